package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/rbac"
)

// tokenFor gets a token for resource from the real token endpoint, as the
// memServer's principal (client credentials, secret from newMemServer).
func (m *memServer) tokenFor(t *testing.T, clientID, secret, resource string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
		"scope": {m.cfg.URL(resource) + "/.default"}}
	req := httptest.NewRequest("POST", m.cfg.URL("login")+"/"+m.tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	m.srv.ServeHTTP(rec, req)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil {
		t.Fatalf("token endpoint: %d %s", rec.Code, rec.Body)
	}
	return tr.AccessToken
}

// lastEvent is the newest record of rec.
func lastEvent(t *testing.T, rec *captureRecorder) *audit.Event {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) == 0 {
		t.Fatal("no audit record")
	}
	return rec.events[len(rec.events)-1]
}

// A panic in a handler is recovered by the one pipeline on every plane:
// the caller gets the plane's internal-error shape, and the request is
// recorded with status 500.
func TestPanicRecoveredInPlaneShape(t *testing.T) {
	rec := &captureRecorder{}
	m := newMemServerAudit(t, rec)
	boom := func() { panic("boom") }

	m.srv.data = newRouter(append(m.srv.DataRoutes(), Route{Method: "GET", Pattern: "/mhsm/panic", Operation: "Panic",
		Action: rbac.RoleAssignRead, Handle: func(*Request) (int, any, error) { boom(); return 0, nil, nil }}), dataRouteSpec)
	r := m.do("GET", "/mhsm/panic?api-version=7.6", "")
	var dataErr struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if r.Code != http.StatusInternalServerError || json.Unmarshal(r.Body.Bytes(), &dataErr) != nil || dataErr.Error.Code != "InternalError" ||
		!strings.Contains(dataErr.Error.Message, "(Activity ID: ") {
		t.Errorf("data plane panic: %d %s", r.Code, r.Body)
	}
	if e := lastEvent(t, rec); e.Status != 500 || e.Operation != "Panic" || e.ResultDescription != "InternalError" {
		t.Errorf("data plane panic record: status %d op %q result %q", e.Status, e.Operation, e.ResultDescription)
	}

	routes := append(slices.Clone(graphRoutes), graphRoute{Method: "GET", Pattern: "/v1.0/panic", Operation: "Panic",
		Handle: func(*Server, *graphReq) (int, any, error) { boom(); return 0, nil, nil }})
	m.srv.graph = newRouter(routes, graphRouteSpec)
	req := httptest.NewRequest("GET", m.cfg.URL("graph")+"/v1.0/panic", nil)
	req.Header.Set("Authorization", "Bearer "+m.graphToken(t))
	w := httptest.NewRecorder()
	m.srv.ServeHTTP(w, req)
	var graphErr struct {
		Error struct {
			Code       string         `json:"code"`
			InnerError map[string]any `json:"innerError"`
		} `json:"error"`
	}
	if w.Code != http.StatusInternalServerError || json.Unmarshal(w.Body.Bytes(), &graphErr) != nil ||
		graphErr.Error.Code != "InternalServerError" || graphErr.Error.InnerError["request-id"] != w.Header().Get("request-id") {
		t.Errorf("graph panic: %d %s", w.Code, w.Body)
	}
	if e := lastEvent(t, rec); e.Status != 500 || e.Operation != "Panic" || e.ResultDescription != "InternalServerError" {
		t.Errorf("graph panic record: status %d op %q result %q", e.Status, e.Operation, e.ResultDescription)
	}
}

// graphToken is a Graph token of the memServer's principal, from the
// token endpoint with a fresh secret.
func (m *memServer) graphToken(t *testing.T) string {
	t.Helper()
	sps, err := m.srv.dir.ServicePrincipals(t.Context(), m.tenant)
	if err != nil || len(sps) == 0 {
		t.Fatalf("service principals: %v", err)
	}
	secret, err := m.srv.dir.AddSecret(t.Context(), m.tenant, sps[0].AppID, 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	return m.tokenFor(t, sps[0].AppID, secret, "graph")
}

// Graph requests are recorded under their route's operation name, with the
// error code the pipeline answered (not read back from the body), in the
// caller's tenant; token requests with the OAuth error code.
func TestGraphAndTokenRecords(t *testing.T) {
	rec := &captureRecorder{}
	m := newMemServerAudit(t, rec)
	tok := m.graphToken(t)
	for _, c := range []struct {
		method, path string
		status       int
		op, result   string
	}{
		{"GET", "/v1.0/users", 200, "UserList", ""},
		{"GET", "/v1.0/users/nobody@nowhere", 404, "UserGet", "Request_ResourceNotFound"},
		{"GET", "/v1.0/servicePrincipals", 200, "ServicePrincipalList", ""},
		{"GET", "/v1.0/nothing", 400, "GraphRequest", "BadRequest"},
		{"PUT", "/v1.0/users", 405, "GraphRequest", "Request_BadRequest"},
	} {
		req := httptest.NewRequest(c.method, m.cfg.URL("graph")+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		m.srv.ServeHTTP(w, req)
		if w.Code != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, w.Code, c.status, w.Body)
			continue
		}
		e := lastEvent(t, rec)
		if e.Operation != c.op || e.ResultDescription != c.result || e.Status != c.status || e.TenantID != m.tenant ||
			e.RequestID != w.Header().Get("request-id") || e.Caller.ObjectID != m.oid || e.Properties["httpMethod"] != c.method {
			t.Errorf("%s %s: record %+v", c.method, c.path, e)
		}
	}

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"00000000-0000-0000-0000-000000000001"}, "client_secret": {"wrong"},
		"scope": {m.cfg.URL("managedhsm") + "/.default"}}
	req := httptest.NewRequest("POST", m.cfg.URL("login")+"/"+m.tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	m.srv.ServeHTTP(w, req)
	e := lastEvent(t, rec)
	if w.Code != http.StatusUnauthorized || e.Operation != "TokenRequest" || e.ResultDescription != "invalid_client" ||
		e.Status != 401 || e.TenantID != m.tenant || e.Properties["grantType"] != "client_credentials" || e.RequestID != w.Header().Get("x-ms-request-id") {
		t.Errorf("token request: %d %s, record %+v", w.Code, w.Body, e)
	}
}
