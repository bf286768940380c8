package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mhsm/mhsm/internal/audit"
)

// captureRecorder is an audit log that keeps every event in memory.
type captureRecorder struct {
	mu     sync.Mutex
	events []*audit.Event
}

func (c *captureRecorder) Ready(string) error { return nil }

func (c *captureRecorder) Record(_ context.Context, e *audit.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	return nil
}

// legacyEventFields is what newAuditEvent recorded before the request
// path was made cheap (query parsed three times, the token hashed a
// second time): the reference the records must still match.
func legacyEventFields(r *http.Request) (requestURI, opVersion, correlation, clientInfo, tokenHex string) {
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		if publicQuery[strings.ToLower(k)] {
			q[k] = vs
		}
	}
	clientInfo = r.UserAgent()
	requestURI = (&url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}).String()
	if v := r.URL.Query().Get("api-version"); len(v) <= 32 && regexp.MustCompile(`^[0-9A-Za-z.\-]*$`).MatchString(v) {
		opVersion = v
	}
	for _, h := range []string{"x-ms-client-request-id", "x-ms-correlation-request-id"} {
		if c := r.Header.Get(h); audit.IsGUID(c) {
			correlation = c
			break
		}
	}
	if auth := strings.TrimSpace(r.Header.Get("Authorization")); auth != "" {
		if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			auth = strings.TrimSpace(auth[7:])
		}
		sum := sha256.Sum256([]byte(auth))
		tokenHex = hex.EncodeToString(sum[:])
	}
	return
}

// exportedCopy is e with only its exported fields (nothing Hash'ed).
func exportedCopy(e *audit.Event) *audit.Event {
	out := &audit.Event{}
	src, dst := reflect.ValueOf(e).Elem(), reflect.ValueOf(out).Elem()
	for i := range src.NumField() {
		if src.Type().Field(i).IsExported() {
			dst.Field(i).Set(src.Field(i))
		}
	}
	return out
}

// TestAuditRecordUnchanged sends data- and management-plane requests of
// every shape the audit event depends on (token valid, invalid, not a
// bearer, oversized, absent; allow-listed and private query parameters;
// request ids) and checks that each record holds what the reference
// computes, the token only through Hash (as the hex SHA-256 the verifier
// computed, or the header's when the verifier did not hash it).
func TestAuditRecordUnchanged(t *testing.T) {
	rec := &captureRecorder{}
	m := newMemServerAudit(t, rec)
	if r := m.do("POST", "/keys/k/create?api-version=7.6", `{"kty":"oct-HSM","key_size":256}`); r.Code != http.StatusOK {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	dev, other, mgmt := "https://"+m.hsmHost("dev"), "https://"+m.hsmHost("nope"), m.cfg.URL("management")
	const guid = "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10"
	cases := []struct {
		name, target, auth string
		header             map[string]string
		status             int
	}{
		{"key get", dev + "/keys/k?api-version=7.6", "Bearer " + m.token, map[string]string{"x-ms-client-request-id": guid, "User-Agent": "azsdk-go/1"}, 200},
		{"lower-case bearer, spaces", dev + "/keys/k?api-version=7.6", "bearer   " + m.token + "  ", nil, 200},
		{"private query", dev + "/keys?api-version=7.6&maxresults=3&secret=s3cr3t&API-VERSION=x&$top=1", "Bearer " + m.token, nil, 200},
		{"bad api-version", dev + "/keys/k?api-version=7.6%3Bdrop", "Bearer " + m.token, map[string]string{"x-ms-correlation-request-id": guid}, 200},
		{"long api-version", dev + "/keys/k?api-version=" + strings.Repeat("7", 33), "Bearer " + m.token, nil, 200},
		{"non-GUID request id", dev + "/keys/k?api-version=7.6", "Bearer " + m.token, map[string]string{"x-ms-client-request-id": "not-a-guid", "x-ms-correlation-request-id": strings.ToUpper(guid)}, 200},
		{"invalid token", dev + "/keys/k?api-version=7.6", "Bearer abc.def.ghi", nil, 401},
		{"no token", dev + "/keys/k?api-version=7.6", "", nil, 401},
		{"basic auth", dev + "/keys/k?api-version=7.6", "Basic dXNlcjpwYXNz", nil, 401},
		{"bearer only", dev + "/keys/k?api-version=7.6", "Bearer", nil, 401},
		{"oversized token", dev + "/keys/k?api-version=7.6", "Bearer " + strings.Repeat("a", 17<<10), nil, 401},
		{"unknown HSM", other + "/keys/k?api-version=7.6", "Bearer " + m.token, nil, 404},
		{"unknown path", dev + "/nothing?api-version=7.6", "Bearer " + m.token, nil, 404},
		{"no query", dev + "/keys/k", "Bearer " + m.token, nil, 200},
		{"management", mgmt + "/subscriptions?api-version=2022-01-01&x=1", "Bearer " + m.token, map[string]string{"x-ms-client-request-id": guid}, 404},
		{"management, no token", mgmt + "/subscriptions", "", nil, 404},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", c.target, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		n := len(rec.events)
		w := httptest.NewRecorder()
		m.srv.ServeHTTP(w, req)
		if w.Code != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, w.Code, c.status, w.Body)
		}
		if len(rec.events) != n+1 {
			t.Fatalf("%s: %d records, want 1", c.name, len(rec.events)-n)
		}
		e := rec.events[n]
		uri, ver, corr, ua, tok := legacyEventFields(req)
		if e.RequestURI != uri || e.OperationVersion != ver || e.CorrelationID != corr || e.ClientInfo != ua {
			t.Errorf("%s: recorded uri %q version %q correlation %q client %q; want %q %q %q %q",
				c.name, e.RequestURI, e.OperationVersion, e.CorrelationID, e.ClientInfo, uri, ver, corr, ua)
		}
		if e.Time.IsZero() || e.RequestID != w.Header().Get("x-ms-request-id") || e.Properties["httpMethod"] != "GET" {
			t.Errorf("%s: time %v, id %q (header %q), properties %v", c.name, e.Time, e.RequestID, w.Header().Get("x-ms-request-id"), e.Properties)
		}
		// What Hash holds is compared without naming audit's fields: the
		// record must equal its exported fields plus exactly this Hash.
		want := exportedCopy(e)
		if tok != "" {
			want.Hash("tokenHash", tok)
		}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("%s: the hashed values differ from tokenHash = SHA-256 of the token", c.name)
		}
		if strings.Contains(e.RequestURI, "s3cr3t") {
			t.Errorf("%s: a private query parameter was recorded", c.name)
		}
	}
}

// TestAuditOffBuildsNoRecord checks that with audit off (audit.Discard)
// the pipeline still answers with request ids, and builds no record.
func TestAuditOffBuildsNoRecord(t *testing.T) {
	m := newMemServer(t)
	if !m.srv.audit.off {
		t.Fatal("a server without an audit log is not 'audit off'")
	}
	w := m.do("GET", "/keys?api-version=7.6", "")
	if w.Code != http.StatusOK || !isGUID(w.Header().Get("x-ms-request-id")) {
		t.Fatalf("%d %q", w.Code, w.Header().Get("x-ms-request-id"))
	}
	req := httptest.NewRequest("GET", m.cfg.URL("management")+"/subscriptions", nil)
	const guid = "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10"
	req.Header.Set("x-ms-client-request-id", guid)
	w = httptest.NewRecorder()
	m.srv.ServeHTTP(w, req)
	if w.Header().Get("x-ms-correlation-request-id") != guid {
		t.Errorf("management correlation id = %q", w.Header().Get("x-ms-correlation-request-id"))
	}
	if on := newAuditor(&Server{}, &captureRecorder{}); on.off {
		t.Error("a real recorder is treated as audit off")
	}
}

// TestIsGUIDMatchesAudit holds isGUID to audit.IsGUID.
func TestIsGUIDMatchesAudit(t *testing.T) {
	for _, v := range []string{"", "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10", "5E4B5C1A-9A0E-4D9B-A0F3-0C2A4B6E8D10",
		"5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d1", "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d100", "5e4b5c1a9a0e-4d9b-a0f3-0c2a4b6e8d10-",
		"5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d1g", "{5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d}", "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d1\n",
		"5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8dé", strings.Repeat("-", 36)} {
		if isGUID(v) != audit.IsGUID(v) {
			t.Errorf("isGUID(%q) = %v, audit.IsGUID %v", v, isGUID(v), audit.IsGUID(v))
		}
	}
}

func FuzzIsGUID(f *testing.F) {
	f.Add("5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10")
	f.Add("5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8dé")
	f.Fuzz(func(t *testing.T, v string) {
		if isGUID(v) != audit.IsGUID(v) {
			t.Errorf("isGUID(%q) = %v, audit.IsGUID %v", v, isGUID(v), audit.IsGUID(v))
		}
	})
}

func FuzzIsAPIVersion(f *testing.F) {
	re := regexp.MustCompile(`^[0-9A-Za-z.\-]*$`)
	for _, s := range []string{"", "7.6", "2022-01-01", "7.6-preview.1", "7.6;x", "é", strings.Repeat("7", 32), strings.Repeat("7", 33)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if want := len(v) <= 32 && re.MatchString(v); isAPIVersion(v) != want {
			t.Errorf("isAPIVersion(%q) = %v, want %v", v, !want, want)
		}
	})
}
