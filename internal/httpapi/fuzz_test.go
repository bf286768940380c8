package httpapi

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzRoutes drives the real route table, every request body decoder
// included, with arbitrary methods, paths and bodies: nothing may panic
// and nothing may answer 5xx. host picks the data plane of "dev", of an
// HSM that does not exist, or the login host; auth sends the principal's
// token (otherwise the request must be a 401 or 4xx before any handler).
func FuzzRoutes(f *testing.F) {
	seeds := []struct {
		host   uint8
		auth   bool
		method string
		target string
		body   string
	}{
		{0, true, "POST", "/keys/k1/create?api-version=7.6", `{"kty":"EC-HSM","crv":"P-256"}`},
		{0, true, "POST", "/keys/k1/create", `{"kty":"oct-HSM","key_size":256,"key_ops":["encrypt","decrypt"]}`},
		{0, true, "PUT", "/keys/k2", `{"key":{"kty":"oct-HSM","k":"AAECAwQFBgcICQoLDA0ODw"}}`},
		{0, true, "POST", "/keys/k2/encrypt", `{"alg":"A128GCM","value":"aGVsbG8"}`},
		{0, true, "POST", "/keys/k2//decrypt", `{"alg":"A128GCM","value":"aGVsbG8","iv":"AAAAAAAAAAAAAAAA","tag":"AAAAAAAAAAAAAAAAAAAAAA"}`},
		{0, true, "POST", "/keys/k3/create", `{"kty":"EC-HSM","crv":"P-384"}`},
		{0, true, "POST", "/keys/k3/sign", `{"alg":"ES384","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
		{0, true, "POST", "/keys/k3/verify", `{"alg":"ES384","digest":"AA","value":"AA"}`},
		{0, true, "POST", "/keys/k2/wrapkey", `{"alg":"A128KW","value":"AAECAwQFBgcICQoLDA0ODw"}`},
		{0, true, "POST", "/keys/k2/unwrapkey", `{"alg":"A128KW","value":"AAECAwQFBgcICQoLDA0ODwABAgMEBQYH"}`},
		{0, true, "PATCH", "/keys/k1", `{"attributes":{"enabled":false,"exp":99999999999999},"tags":{"a":"b"}}`},
		{0, true, "PUT", "/keys/k1/rotationpolicy", `{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P90D"}}`},
		{0, true, "POST", "/keys/k1/rotate", ``},
		{0, true, "POST", "/keys/k1/backup", ``},
		{0, true, "POST", "/keys/restore", `{"value":"bWhzbS1rZXktYmFja3VwLXYxOgE"}`},
		{0, true, "DELETE", "/keys/k2", ``},
		{0, true, "GET", "/deletedkeys/k2", ``},
		{0, true, "POST", "/deletedkeys/k2/recover", ``},
		{0, true, "POST", "/keys/k1/release", `{"target":"eyJhbGciOiJub25lIn0.e30."}`},
		{0, true, "POST", "/rng", `{"count":32}`},
		{0, true, "GET", "/keys?maxresults=1&$skiptoken=zz", ``},
		{0, true, "GET", "/keys/k1/versions?maxresults=30", ``},
		{0, true, "PUT", "/providers/Microsoft.Authorization/roleAssignments/6a2f3c1e-0000-4000-8000-000000000001",
			`{"properties":{"roleDefinitionId":"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b","principalId":"00000000-0000-0000-0000-000000000000"}}`},
		{0, true, "PUT", "/keys/k1/providers/Microsoft.Authorization/roleDefinitions/6a2f3c1e-0000-4000-8000-000000000002",
			`{"properties":{"roleName":"r","permissions":[{"dataActions":["Microsoft.KeyVault/managedHsm/keys/read/action"]}],"assignableScopes":["/"]}}`},
		{0, true, "GET", "/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()", ``},
		{0, true, "GET", "/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName%20eq%20'x'", ``},
		{0, true, "PATCH", "/settings/AllowKeyManagementOperationsThroughARM", `{"value":"true"}`},
		{0, true, "GET", "/settings", ``},
		{0, true, "GET", "/keys/%2e%2e/k1", ``},
		{0, true, "BREW", "//keys//k1///", `{`},
		{0, false, "GET", "/keys/k1", ``},
		{1, true, "GET", "/keys", ``},
		{2, false, "POST", "/common/oauth2/v2.0/token", `grant_type=client_credentials&client_id=x&client_secret=y`},
		{2, false, "GET", "/common/v2.0/.well-known/openid-configuration", ``},
	}
	for _, s := range seeds {
		f.Add(s.host, s.auth, s.method, s.target, []byte(s.body))
	}
	m := newMemServer(f)
	// Every route of the table, with an empty object and a wrong-typed body.
	fill := strings.NewReplacer("{name}", "k1", "{version}", "", "{id}", "6a2f3c1e-0000-4000-8000-000000000003", "{setting}", "x")
	for _, rt := range m.srv.DataRoutes() {
		f.Add(uint8(0), true, rt.Method, fill.Replace(rt.Pattern), []byte(`{}`))
		f.Add(uint8(0), true, rt.Method, fill.Replace(rt.Pattern), []byte(`{"value":7,"alg":[],"properties":"x"}`))
	}
	f.Fuzz(func(t *testing.T, host uint8, auth bool, method, target string, body []byte) {
		hosts := []string{m.hsmHost("dev"), m.hsmHost("nosuchhsm"), strings.TrimPrefix(m.cfg.URL("login"), "https://")}
		req := parseFuzzRequest(method, target, hosts[int(host)%len(hosts)], body)
		if req == nil {
			return // the server's own parser answers 400 before any handler
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+m.token)
		}
		rec := httptest.NewRecorder()
		m.srv.ServeHTTP(rec, req) // a panic fails the fuzz run
		if rec.Code >= 500 {
			t.Fatalf("%s %s -> %d %s", method, target, rec.Code, rec.Body)
		}
	})
}

// parseFuzzRequest builds the request the way net/http's server would
// read it off the wire, or returns nil when that read would fail.
func parseFuzzRequest(method, target, host string, body []byte) *http.Request {
	if strings.ContainsAny(method+target, " \r\n") {
		return nil
	}
	raw := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil || !validMethod(req.Method) {
		return nil
	}
	req.RemoteAddr = "127.0.0.1:50000"
	req.RequestURI = ""
	if req.URL.Host == "" {
		req.URL.Host = host
	}
	if _, err := url.ParseRequestURI(target); err != nil && !strings.HasPrefix(target, "/") {
		return nil
	}
	return req
}

// validMethod is net/http's check for a request line's method (a token).
func validMethod(m string) bool {
	return m != "" && !slices.ContainsFunc([]byte(m), func(c byte) bool {
		return c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0
	})
}

// FuzzSplitPath checks the path canonicaliser routing and authorization
// share: its segments never contain "/", "." or ".."; re-escaping and
// splitting them again gives the same segments (idempotent); and a key
// name never shares a canonical form with a longer one.
func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"/keys/k1", "//keys//k1///", "/keys/%6b1", "/keys/a%2Fb", "/keys/../k", "/keys/%2e%2e",
		"/keys/%252e", "/keys/%zz", "/keys/a/", "/keys/ab", "/keys/a%00", "/%2F%2F", "/keys/a;b", "/keys/\u212a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		segs, err := splitPath(p)
		if err != nil {
			return
		}
		parts := make([]string, len(segs))
		for i, s := range segs {
			if s == "" || s == "." || s == ".." || strings.Contains(s, "/") {
				t.Fatalf("splitPath(%q) yields segment %q", p, s)
			}
			parts[i] = url.PathEscape(s)
		}
		again, err := splitPath("/" + strings.Join(parts, "/"))
		if err != nil || !slices.Equal(again, segs) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", p, segs, again, err)
		}
		if len(segs) == 2 && strings.EqualFold(segs[0], "keys") {
			longer, err := splitPath(p + "b")
			if err == nil && slices.Equal(longer, segs) {
				t.Fatalf("%q and %q name the same key", p, p+"b")
			}
		}
	})
}
