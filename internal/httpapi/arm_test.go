package httpapi

import (
	"testing"

	"github.com/mhsm/mhsm/internal/armrbac"
)

// TestEveryARMRouteIsAuthorized fails when a management route has neither
// a known action nor exactly one explicit marker: deny by default means
// nothing is public or caller-filtered by accident.
func TestEveryARMRouteIsAuthorized(t *testing.T) {
	s := &Server{}
	routes := s.ARMRoutes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes", len(routes))
	}
	seen := map[string]bool{}
	for _, r := range routes {
		id := r.Method + " " + r.Pattern
		if seen[id] {
			t.Errorf("%s declared twice", id)
		}
		seen[id] = true
		markers := 0
		for _, m := range []bool{r.Public, r.AnyCaller, r.Visible, r.Filter} {
			if m {
				markers++
			}
		}
		switch {
		case r.Public || r.AnyCaller:
			if markers != 1 || r.Action != "" {
				t.Errorf("%s: Public/AnyCaller routes take no action and no other marker", id)
			}
		case !armrbac.Known(r.Action):
			t.Errorf("%s: action %q is not one armrbac enforces", id, r.Action)
		case markers > 1:
			t.Errorf("%s: more than one marker", id)
		}
		if r.Alt != "" && !armrbac.Known(r.Alt) {
			t.Errorf("%s: alternative action %q unknown", id, r.Alt)
		}
		if r.Operation == "" || r.Handle == nil {
			t.Errorf("%s: no operation name or handler", id)
		}
	}
	if n := countPublic(routes); n != 1 {
		t.Errorf("%d public routes, want 1 (metadata)", n)
	}
}

func countPublic(rs []ARMRoute) int {
	n := 0
	for _, r := range rs {
		if r.Public {
			n++
		}
	}
	return n
}

func TestARMRouting(t *testing.T) {
	r := newRouter((&Server{}).ARMRoutes(), armRouteSpec)
	const sub = "subscriptions/11111111-1111-1111-1111-111111111111"
	cases := []struct {
		method, path, op, scope string
	}{
		{"GET", "/subscriptions", "SubscriptionsList", ""},
		{"PUT", "/" + sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/h", "ManagedHsmCreateOrUpdate", ""},
		{"GET", "/" + sub + "/resourcegroups/rg/providers/microsoft.keyvault/MANAGEDHSMS", "ManagedHsmListByResourceGroup", ""},
		{"PUT", "/" + sub + "/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/x", "RoleAssignmentCreate", "/" + sub + "/resourceGroups/rg"},
		{"GET", "/" + sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/h/providers/Microsoft.Insights/diagnosticSettings", "DiagnosticSettingsList",
			"/" + sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/h"},
		{"GET", "/providers/Microsoft.Authorization/roleDefinitions/x", "RoleDefinitionGet", ""},
		{"GET", "/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/x", "RoleDefinitionGet", "/" + sub},
	}
	for _, c := range cases {
		segs, err := splitPath(c.path)
		if err != nil {
			t.Fatal(err)
		}
		rt, p, _ := r.match(c.method, segs)
		if rt == nil || rt.Operation != c.op || p["scope"] != c.scope {
			t.Errorf("%s %s: %v %v", c.method, c.path, rt, p)
		}
	}
	if rt, _, exists := r.match("POST", []string{"subscriptions"}); rt != nil || !exists {
		t.Error("POST /subscriptions must be a 405")
	}
}
