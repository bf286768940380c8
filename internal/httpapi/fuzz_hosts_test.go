package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/mgmt"
)

// hostsServer is the HTTP edge with the management plane wired, on an
// in-memory store: one tenant whose service principal is tenant
// administrator (Graph writes) and Owner of one subscription holding one
// resource group (management writes), with a token for each host.
type hostsServer struct {
	srv                   *Server
	cfg                   *config.Server
	tenant, sub, rg       string
	mgmtToken, graphToken string
}

func newHostsServer(tb testing.TB) *hostsServer {
	tb.Helper()
	c := newMemCore(tb)
	cfg := &c.cfg
	m, err := mgmt.New(c.ctx, c.st, c.hsms, mgmt.Options{HSMURL: func(n string) string { return cfg.URL(n+".managedhsm") + "/" }})
	mustT(tb, err)
	tb.Cleanup(m.Close)
	mustT(tb, c.dir.MakeAdministrator(c.ctx, c.tenant, c.sp.ObjectID))
	sub, err := m.CreateSubscription(c.ctx, c.tenant, "fuzz subscription", "", c.sp.ObjectID)
	mustT(tb, err)
	h := &hostsServer{srv: New(Deps{Config: cfg, HSMs: c.hsms, Dir: c.dir, Issuer: c.issuer, Verifier: c.verifier, Mgmt: m}),
		cfg: cfg, tenant: c.tenant, sub: sub.ID, rg: "fuzz-rg"}
	h.mgmtToken, h.graphToken = c.token(tb, h.srv, "management"), c.token(tb, h.srv, "graph")
	return h
}

// FuzzHosts drives the management (ARM) and Graph hosts through the real
// edge — routers, bearer parsing, authorization, every body decoder and
// handler — with arbitrary methods, paths and bodies: nothing may panic
// and nothing may answer 5xx. host picks management or Graph; auth sends
// the principal's token for that host (Owner of the subscription, tenant
// administrator). Its seed corpus — every route of both tables, filled in,
// with an empty and a wrong-typed body, plus well-formed writes — runs in
// every plain `go test`.
func FuzzHosts(f *testing.F) {
	h := newHostsServer(f)
	const armAPI = "?api-version=2023-07-01"
	hsmPath := "/subscriptions/" + h.sub + "/resourceGroups/" + h.rg + "/providers/Microsoft.KeyVault/managedHSMs/fz1"
	seeds := []struct {
		host   uint8
		auth   bool
		method string
		target string
		body   string
	}{
		{0, true, "PUT", "/subscriptions/" + h.sub + "/resourcegroups/" + h.rg + armAPI, `{"location":"local","tags":{"a":"b"}}`},
		{0, true, "PUT", hsmPath + armAPI, `{"location":"local","sku":{"family":"B","name":"Standard_B1"},"properties":{"tenantId":"` + h.tenant +
			`","initialAdminObjectIds":["00000000-0000-0000-0000-000000000001"],"softDeleteRetentionInDays":7}}`},
		{0, true, "PATCH", hsmPath + armAPI, `{"tags":{"x":"y"},"properties":{"enablePurgeProtection":true}}`},
		{0, true, "PUT", "/subscriptions/" + h.sub + "/providers/Microsoft.Authorization/roleAssignments/6a2f3c1e-0000-4000-8000-000000000010" + armAPI,
			`{"properties":{"roleDefinitionId":"/subscriptions/` + h.sub + `/providers/Microsoft.Authorization/roleDefinitions/` + armrbac.RoleReader +
				`","principalId":"00000000-0000-0000-0000-000000000002"}}`},
		{0, true, "PUT", "/subscriptions/" + h.sub + "/providers/Microsoft.Authorization/roleDefinitions/6a2f3c1e-0000-4000-8000-000000000011" + armAPI,
			`{"properties":{"roleName":"r","permissions":[{"actions":["Microsoft.KeyVault/managedHSMs/read"]}],"assignableScopes":["/subscriptions/` + h.sub + `"]}}`},
		{0, true, "PUT", hsmPath + "/providers/Microsoft.Insights/diagnosticSettings/d1?api-version=2021-05-01-preview",
			`{"properties":{"storageAccountId":"/subscriptions/` + h.sub + `/resourceGroups/` + h.rg + `/providers/Microsoft.Storage/storageAccounts/acct","logs":[{"category":"AuditEvent","enabled":true}]}}`},
		{0, true, "POST", "/subscriptions/" + h.sub + "/providers/Microsoft.KeyVault/checkMhsmNameAvailability" + armAPI, `{"name":"fz1"}`},
		{0, true, "GET", "/subscriptions/" + h.sub + "/providers/Microsoft.Authorization/roleAssignments" + armAPI + "&$filter=assignedTo('x')", ``},
		{0, true, "GET", "/subscriptions/%2e%2e/resourcegroups" + armAPI, ``},
		{0, true, "BREW", "//subscriptions//", `{`},
		{0, false, "GET", "/subscriptions" + armAPI, ``},
		{1, true, "POST", "/v1.0/users", `{"accountEnabled":true,"displayName":"u","mailNickname":"u","userPrincipalName":"u@` + h.cfg.Domain +
			`","passwordProfile":{"password":"Correct-Horse-Battery-9"}}`},
		{1, true, "POST", "/v1.0/groups", `{"displayName":"g","mailNickname":"g","securityEnabled":true,"mailEnabled":false}`},
		{1, true, "POST", "/v1.0/groups/6a2f3c1e-0000-4000-8000-000000000012/members/$ref", `{"@odata.id":"https://graph/v1.0/directoryObjects/x"}`},
		{1, true, "POST", "/v1.0/applications", `{"displayName":"app"}`},
		{1, true, "POST", "/v1.0/applications(appId='x')/addPassword", `{"passwordCredential":{"displayName":"p"}}`},
		{1, true, "POST", "/v1.0/directoryObjects/getByIds", `{"ids":["a","b"],"types":["user"]}`},
		{1, true, "GET", "/v1.0/users?$filter=startswith(displayName,'a')&$top=1", ``},
		{1, true, "POST", "/mhsm/managedIdentities", `{"name":"mi"}`},
		{1, false, "GET", "/v1.0/users", ``},
	}
	for _, s := range seeds {
		f.Add(s.host, s.auth, s.method, s.target, []byte(s.body))
	}
	fillARM := strings.NewReplacer("{subscriptionId}", h.sub, "{resourceGroupName}", h.rg, "{hsm}", "fz2", "{location}", "local",
		"{name}", "6a2f3c1e-0000-4000-8000-000000000013", "{operationId}", "op", "{roleId}", armrbac.RoleOwner,
		"{scope*}", "/subscriptions/"+h.sub)
	for _, rt := range h.srv.ARMRoutes() {
		for _, b := range []string{`{}`, `{"value":7,"location":[],"properties":"x"}`} {
			f.Add(uint8(0), true, rt.Method, fillARM.Replace(rt.Pattern)+armAPI, []byte(b))
		}
	}
	fillGraph := strings.NewReplacer("{id}", "6a2f3c1e-0000-4000-8000-000000000014", "{member}", "6a2f3c1e-0000-4000-8000-000000000015",
		"{fid}", "f", "{kind}", "users", "{name}", "mi")
	for _, rt := range graphRoutes {
		for _, b := range []string{`{}`, `{"value":7,"displayName":[],"ids":"x"}`} {
			f.Add(uint8(1), true, rt.Method, fillGraph.Replace(rt.Pattern), []byte(b))
		}
	}
	hosts := []string{strings.TrimPrefix(h.cfg.URL("management"), "https://"), strings.TrimPrefix(h.cfg.URL("graph"), "https://")}
	tokens := []string{h.mgmtToken, h.graphToken}
	f.Fuzz(func(t *testing.T, host uint8, auth bool, method, target string, body []byte) {
		i := int(host) % len(hosts)
		req := parseFuzzRequest(method, target, hosts[i], body)
		if req == nil {
			return // the server's own parser answers 400 before any handler
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+tokens[i])
		}
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, req) // a panic fails the fuzz run
		if rec.Code >= 500 {
			t.Fatalf("%s %s %s -> %d %s", hosts[i], method, target, rec.Code, rec.Body)
		}
	})
}
