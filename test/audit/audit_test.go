// Package audit_test checks the audit log end to end against a running
// server: every request of every result class recorded exactly once,
// records durable before responses, fail-closed 503s, no secrets in any
// output, and verification with the key the API exports.
package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// result is one HTTP exchange as the client saw it.
type result struct {
	status int
	reqID  string
	body   []byte
	header http.Header
}

// do sends a request; body may be nil, a string or a JSON value.
func do(t testing.TB, s *testserver.Server, method, u, tok string, body any, hdr map[string]string) result {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := s.Client()
	if strings.HasPrefix(u, "http://") { // the managed identity endpoint: plain HTTP, its own listener
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, reqID: resp.Header.Get("x-ms-request-id"), body: b, header: resp.Header}
}

// tokenReq posts a client-credentials request for the data plane.
func tokenReq(t testing.TB, s *testserver.Server, form url.Values) (result, string) {
	t.Helper()
	if form.Get("scope") == "" {
		form.Set("scope", s.URL("managedhsm")+"/.default")
	}
	if form.Get("grant_type") == "" {
		form.Set("grant_type", "client_credentials")
	}
	req, _ := http.NewRequest("POST", s.URL("login")+"/"+s.Dev.TenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(b, &tr)
	return result{status: resp.StatusCode, reqID: resp.Header.Get("x-ms-request-id"), body: b, header: resp.Header}, tr.AccessToken
}

// records reads every AuditEvent record of the server's audit log, by
// chain.
func records(t testing.TB, s *testserver.Server) map[string][]*audit.Record {
	t.Helper()
	ctx := context.Background()
	srcs, err := audit.FindSources(ctx, audit.DirFiles(s.App.Audit().Dir()), "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*audit.Record{}
	for _, src := range srcs {
		err := src.Query(ctx, &audit.Filter{}, func(r *audit.Record) error {
			out[src.Name] = append(out[src.Name], r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// newPrincipal makes a service principal with no role and returns its
// client id and secret.
func newPrincipal(t testing.TB, s *testserver.Server) (string, string) {
	t.Helper()
	ctx := context.Background()
	dir := s.App.Directory()
	sp, err := dir.CreateServicePrincipal(ctx, s.Dev.TenantID, "no-role-"+time.Now().Format("150405.000000"))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := dir.AddSecret(ctx, s.Dev.TenantID, sp.AppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return sp.AppID, secret
}

// TestEveryRequestRecordedOnce issues requests of every result class and
// finds exactly one record per request id in the right chain with the
// status the client saw, and no other record.
func TestEveryRequestRecordedOnce(t *testing.T) {
	s := testserver.Start(t, func(c *config.Server) { c.MSIAddr = "127.0.0.1:0" })
	base := s.HSMURL("dev")
	type sent struct {
		name  string
		chain string
		r     result
	}
	var all []sent
	add := func(name, chain string, r result) {
		t.Helper()
		if r.reqID == "" {
			t.Fatalf("%s: no x-ms-request-id (status %d)", name, r.status)
		}
		all = append(all, sent{name, chain, r})
	}

	r, tok := tokenReq(t, s, url.Values{"client_id": {s.Dev.ClientID}, "client_secret": {s.Dev.ClientSecret}})
	if r.status != 200 || tok == "" {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	add("token ok", audit.ServerChain, r)
	r, _ = tokenReq(t, s, url.Values{"client_id": {s.Dev.ClientID}, "client_secret": {"wrong"}})
	add("token bad secret", audit.ServerChain, r)
	r, _ = tokenReq(t, s, url.Values{"client_id": {"not-a-guid~secret"}, "client_secret": {"x"}})
	add("token bad client id", audit.ServerChain, r)
	r, _ = tokenReq(t, s, url.Values{"grant_type": {"nonsense"}})
	add("token bad grant", audit.ServerChain, r)
	id, secret := newPrincipal(t, s)
	r, noRole := tokenReq(t, s, url.Values{"client_id": {id}, "client_secret": {secret}})
	add("token no-role principal", audit.ServerChain, r)

	// The managed identity endpoint issues tokens too.
	_, header, err := s.App.Directory().CreateIdentity(context.Background(), s.Dev.TenantID, "mi-audit")
	if err != nil {
		t.Fatal(err)
	}
	msi := "http://" + s.App.MSIAddr().String() + "/msi/token?api-version=2019-08-01&resource=" + url.QueryEscape(s.URL("managedhsm"))
	add("msi ok", audit.ServerChain, do(t, s, "GET", msi, "", nil, map[string]string{"X-IDENTITY-HEADER": header}))
	add("msi bad header", audit.ServerChain, do(t, s, "GET", msi, "", nil, map[string]string{"X-IDENTITY-HEADER": header + "x"}))

	v := "?api-version=7.6"
	add("create 200", "dev", do(t, s, "POST", base+"/keys/k1/create"+v, tok, map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil))
	add("list 200", "dev", do(t, s, "GET", base+"/keys"+v, tok, nil, map[string]string{"x-ms-client-request-id": "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10"}))
	add("public key 200", "dev", do(t, s, "GET", base+"/mhsm/audit/publickey"+v, tok, nil, nil))
	add("bad body 400", "dev", do(t, s, "POST", base+"/keys/k1/sign"+v, tok, "{not json", nil))
	add("no token 401", "dev", do(t, s, "GET", base+"/keys"+v, "", nil, nil))
	add("bad token 401", "dev", do(t, s, "GET", base+"/keys"+v, "eyJhbGciOiJub25lIn0.e30.", nil, nil))
	add("denied 403", "dev", do(t, s, "POST", base+"/keys/k1/sign"+v, noRole, map[string]any{"alg": "ES256", "value": strings.Repeat("A", 43)}, nil))
	add("unknown path 404", "dev", do(t, s, "GET", base+"/nothing/here"+v, tok, nil, nil))
	add("unknown key 404", "dev", do(t, s, "GET", base+"/keys/nokey"+v, tok, nil, nil))
	add("wrong method 405", "dev", do(t, s, "DELETE", base+"/keys"+v, tok, nil, nil))
	add("too large 413", "dev", do(t, s, "POST", base+"/keys/k1/sign"+v, tok, `{"alg":"ES256","value":"`+strings.Repeat("A", 300<<10)+`"}`, nil))
	add("unknown hsm 404", audit.ServerChain, do(t, s, "GET", s.HSMURL("nosuchhsm")+"/keys"+v, tok, nil, nil))
	r, graphTok := tokenReq(t, s, url.Values{"client_id": {s.Dev.ClientID}, "client_secret": {s.Dev.ClientSecret}, "scope": {s.URL("graph") + "/.default"}})
	if graphTok == "" {
		t.Fatal("no graph token")
	}
	add("graph token", audit.ServerChain, r)
	add("graph 200", audit.ServerChain, do(t, s, "GET", s.URL("graph")+"/v1.0/servicePrincipals?$top=5", graphTok, nil, nil))
	add("graph 401", audit.ServerChain, do(t, s, "GET", s.URL("graph")+"/v1.0/users", "", nil, nil))
	add("management 401", audit.ServerChain, do(t, s, "GET", s.URL("management")+"/subscriptions?api-version=2022-12-01", "", nil, nil))

	got := records(t, s)
	byID := map[string][]*audit.Record{}
	chainOf := map[string]string{}
	total := 0
	for chain, rs := range got {
		for _, r := range rs {
			byID[r.ID] = append(byID[r.ID], r)
			chainOf[r.ID] = chain
			total++
		}
	}
	seenStatus := map[int]bool{}
	for _, x := range all {
		rs := byID[x.r.reqID]
		if len(rs) != 1 {
			t.Errorf("%s (%s): %d records, want 1", x.name, x.r.reqID, len(rs))
			continue
		}
		if chainOf[x.r.reqID] != x.chain {
			t.Errorf("%s: recorded in chain %q, want %q", x.name, chainOf[x.r.reqID], x.chain)
		}
		if rs[0].Status != x.r.status {
			t.Errorf("%s: recorded status %d, client saw %d", x.name, rs[0].Status, x.r.status)
		}
		seenStatus[x.r.status] = true
	}
	for _, st := range []int{200, 400, 401, 403, 404, 405, 413} {
		if !seenStatus[st] {
			t.Errorf("no request of class %d was exercised", st)
		}
	}
	if total != len(all) {
		t.Errorf("%d records for %d requests: extra records", total, len(all))
	}

	// Specific contents: 401 is Authentication; 403 names the decision.
	for _, x := range all {
		rs := byID[x.r.reqID]
		if len(rs) != 1 {
			continue
		}
		raw := string(rs[0].Raw)
		switch x.name {
		case "no token 401":
			if rs[0].Operation != "Authentication" || !strings.Contains(raw, `"attemptedOperation":"KeyList"`) {
				t.Errorf("401 record: %s", raw)
			}
		case "denied 403":
			if !strings.Contains(raw, `"isRbacAuthorized":false`) || !strings.Contains(raw, `"dataAction":"Microsoft.KeyVault/managedHsm/keys/sign/action"`) {
				t.Errorf("403 record: %s", raw)
			}
		case "create 200":
			if !strings.Contains(raw, `"isRbacAuthorized":true`) || !strings.Contains(raw, `"appliedAssignmentId":"`) || rs[0].Caller.ObjectID == "" {
				t.Errorf("200 record: %s", raw)
			}
		case "list 200":
			if rs[0].CorrelationID != "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10" || !strings.Contains(raw, `"tokenHash":"hmac-sha256:`) {
				t.Errorf("correlation/token hash: %s", raw)
			}
		case "token bad secret":
			if rs[0].ResultType != "Failure" || !strings.Contains(raw, `"clientId":"`+strings.ToLower(s.Dev.ClientID)+`"`) {
				t.Errorf("failed token record: %s", raw)
			}
		case "token ok":
			if rs[0].Caller.AppID == "" || rs[0].Caller.ObjectID == "" {
				t.Errorf("token record names no identity: %s", raw)
			}
		case "msi ok":
			if x.r.status != 200 || rs[0].Operation != "ManagedIdentityTokenRequest" || rs[0].Caller.ObjectID == "" || strings.Contains(raw, header) {
				t.Errorf("managed identity token record (%d): %s", x.r.status, raw)
			}
		case "token bad client id":
			if strings.Contains(raw, "not-a-guid") || !strings.Contains(raw, `"clientIdHash":"hmac-sha256:`) {
				t.Errorf("non-GUID client id not hashed: %s", raw)
			}
		}
	}

	// Throttled requests (429) are recorded too: a server with a tiny
	// per-principal budget.
	t.Run("throttled", func(t *testing.T) {
		s := testserver.Start(t, func(c *config.Server) { c.ThrottlePrincipalRate = 0.2 })
		tok, err := s.DevToken()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		throttled := false
		for i := 0; i < 50 && !throttled; i++ {
			r := do(t, s, "GET", s.HSMURL("dev")+"/keys?api-version=7.6", tok, nil, nil)
			ids = append(ids, r.reqID)
			throttled = r.status == http.StatusTooManyRequests
		}
		if !throttled {
			t.Fatal("never throttled")
		}
		byID := map[string]int{}
		for _, r := range records(t, s)["dev"] {
			byID[r.ID]++
			if r.ID == ids[len(ids)-1] && r.Status != 429 {
				t.Errorf("throttled request recorded with %d", r.Status)
			}
		}
		for _, id := range ids {
			if byID[id] != 1 {
				t.Errorf("request %s recorded %d times", id, byID[id])
			}
		}
	})
}

// TestRecordBeforeResponse: with the audit disk blocked the request does
// not complete; with it failing, requests get 503 and do not act.
func TestRecordBeforeResponse(t *testing.T) {
	s := testserver.Start(t, nil)
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	base, v := s.HSMURL("dev"), "?api-version=7.6"
	if r := do(t, s, "POST", base+"/keys/k1/create"+v, tok, map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	l := s.App.Audit()

	t.Run("blocked", func(t *testing.T) {
		release := make(chan struct{})
		l.SetFaultHook(func(op string) error {
			if op == "sync" {
				<-release
			}
			return nil
		})
		defer l.SetFaultHook(nil)
		done := make(chan result, 1)
		go func() { done <- do(t, s, "GET", base+"/keys/k1"+v, tok, nil, nil) }()
		select {
		case r := <-done:
			close(release)
			t.Fatalf("the request completed (%d) while its record could not be synced", r.status)
		case <-time.After(500 * time.Millisecond):
		}
		close(release)
		if r := <-done; r.status != 200 {
			t.Fatalf("after release: %d", r.status)
		}
	})

	t.Run("failing", func(t *testing.T) {
		l.SetFaultHook(func(string) error { return errors.New("EIO") })
		if err := l.Probe(); err == nil {
			t.Fatal("probe passed on a failing disk")
		}
		r := do(t, s, "POST", base+"/keys/k2/create"+v, tok, map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil)
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Fatalf("create with a failing audit log: %d %s", r.status, r.body)
		}
		tr, tok2 := tokenReq(t, s, url.Values{"client_id": {s.Dev.ClientID}, "client_secret": {s.Dev.ClientSecret}})
		if tr.status != 503 || tok2 != "" {
			t.Fatalf("token request with a failing audit log: %d", tr.status)
		}
		l.SetFaultHook(nil)
		if err := l.Probe(); err != nil {
			t.Fatalf("probe after recovery: %v", err)
		}
		if r := do(t, s, "GET", base+"/keys/k2"+v, tok, nil, nil); r.status != 404 {
			t.Fatalf("the refused create took effect: GET k2 = %d", r.status)
		}
	})

	t.Run("failing after the check", func(t *testing.T) {
		// The disk fails between the readiness check and the record: the
		// handler ran, but its result is withheld.
		l.SetFaultHook(func(op string) error {
			if op == "write" {
				return errors.New("ENOSPC")
			}
			return nil
		})
		r := do(t, s, "POST", base+"/keys/k1/sign"+v, tok, map[string]any{"alg": "ES256", "value": strings.Repeat("A", 43)}, nil)
		l.SetFaultHook(nil)
		if r.status != 503 || bytes.Contains(r.body, []byte(`"value"`)) {
			t.Fatalf("sign with a failing record: %d %s", r.status, r.body)
		}
		if err := l.Probe(); err != nil {
			t.Fatal(err)
		}
	})

	// The chain still verifies with the key the API exports.
	r := do(t, s, "GET", base+"/mhsm/audit/publickey"+v, tok, nil, nil)
	if r.status != 200 {
		t.Fatalf("public key: %d %s", r.status, r.body)
	}
	pub, err := audit.ParsePublicKey(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint("dev"); err != nil {
		t.Fatal(err)
	}
	srcs, _ := audit.FindSources(context.Background(), audit.DirFiles(l.Dir()), "")
	for _, src := range srcs {
		if src.Name != "dev" {
			continue
		}
		rep, err := src.Verify(context.Background(), pub)
		if err != nil || !rep.OK() || !rep.Pinned {
			t.Fatalf("verify: %v %+v", err, rep)
		}
	}
}

// TestRecordsNameTheARMResource: records of the dev HSM carry its ARM id
// from the management plane (subscription and resource group), as Azure's do.
func TestRecordsNameTheARMResource(t *testing.T) {
	s := testserver.Start(t, nil)
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, s, "GET", s.HSMURL("dev")+"/keys?api-version=7.6", tok, nil, nil)
	if r.status != 200 {
		t.Fatalf("list keys: %d", r.status)
	}
	want := strings.ToUpper("/subscriptions/" + s.Dev.SubscriptionID + "/resourceGroups/mhsm-dev/providers/Microsoft.KeyVault/managedHSMs/dev")
	for _, recs := range records(t, s) {
		for _, rec := range recs {
			if rec.ID == r.reqID {
				if strings.ToUpper(rec.ResourceID) != want {
					t.Fatalf("resourceId = %q, want %q", rec.ResourceID, want)
				}
				return
			}
		}
	}
	t.Fatal("no record for the request")
}
