package httpapi

import (
	"testing"

	"github.com/mhsm/mhsm/internal/rbac"
)

// TestEveryRouteDeclaresAnAction fails when a route is added without a
// known data action or an operation name: there is no public data-plane
// route, and authorization has nothing to decide without an action.
func TestEveryRouteDeclaresAnAction(t *testing.T) {
	s := &Server{}
	routes := s.DataRoutes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes: the table is incomplete", len(routes))
	}
	seen := map[string]bool{}
	for _, r := range routes {
		id := r.Method + " " + r.Pattern
		if seen[id] {
			t.Errorf("%s declared twice", id)
		}
		seen[id] = true
		if r.Action == "" || !rbac.Known(string(r.Action)) {
			t.Errorf("%s has no known data action (%q)", id, r.Action)
		}
		if r.Operation == "" {
			t.Errorf("%s has no operation name", id)
		}
		if r.Handle == nil {
			t.Errorf("%s has no handler", id)
		}
	}
}

func TestSplitPathCanonicalises(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "/keys/k1", want: []string{"keys", "k1"}},
		{in: "//keys//k1///", want: []string{"keys", "k1"}},
		{in: "/keys/k1//sign", want: []string{"keys", "k1", "sign"}},
		{in: "/keys/%6b1", want: []string{"keys", "k1"}},
		{in: "/keys/a%2Fb", err: true},
		{in: "/keys/../keys/k1", err: true},
		{in: "/keys/./k1", err: true},
		{in: "/keys/%2e%2e/x", err: true},
		{in: "/keys/%zz", err: true},
	}
	for _, c := range cases {
		got, err := splitPath(c.in)
		if (err != nil) != c.err {
			t.Errorf("splitPath(%q) err = %v, want err %v", c.in, err, c.err)
			continue
		}
		if !c.err && len(got) != len(c.want) {
			t.Errorf("splitPath(%q) = %q, want %q", c.in, got, c.want)
			continue
		}
		for i := range c.want {
			if got[i] != c.want[i] {
				t.Errorf("splitPath(%q) = %q, want %q", c.in, got, c.want)
			}
		}
	}
}

func TestRouterPrefersLiterals(t *testing.T) {
	s := &Server{}
	rt := newRouter(s.DataRoutes(), dataRouteSpec)
	cases := []struct{ method, path, op string }{
		{"GET", "/keys/k/versions", "KeyListVersions"},
		{"GET", "/keys/k/abc", "KeyGet"},
		{"GET", "/keys/k/rotationpolicy", "KeyRotationPolicyGet"},
		{"POST", "/keys/restore", "KeyRestore"},
		{"POST", "/keys/k/create", "KeyCreate"},
		{"POST", "/keys/k/sign", "KeySign"},
		{"POST", "/keys/k/v1/sign", "KeySign"},
		{"GET", "/keys/providers/Microsoft.Authorization/roleAssignments", "RoleAssignmentList"},
		{"GET", "/keys/k/providers/microsoft.authorization/ROLEASSIGNMENTS/x", "RoleAssignmentGet"},
		{"PATCH", "/settings/x", "SettingUpdate"},
	}
	for _, c := range cases {
		segs, _ := splitPath(c.path)
		r, _, _ := rt.match(c.method, segs)
		if r == nil || r.Operation != c.op {
			got := "<nil>"
			if r != nil {
				got = r.Operation
			}
			t.Errorf("%s %s → %s, want %s", c.method, c.path, got, c.op)
		}
	}
	segs, _ := splitPath("/rng")
	if r, _, exists := rt.match("GET", segs); r != nil || !exists {
		t.Errorf("GET on a POST-only path should be 405 (route nil, path exists)")
	}
}
