package rbac_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/httpapi"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
)

// The expected answers of local RBAC come from the hand-written golden
// files in testdata (see testdata/README.md), not from rbac.BuiltinRoles or
// the route table, which are the code under test.

// goldenRole is a built-in role of testdata/builtin-roles.golden.json.
type goldenRole struct {
	ID          string
	Name        string
	DataActions []string
}

// grants reports whether the role's dataActions hold action.
func (r goldenRole) grants(a rbac.Action) bool { return slices.Contains(r.DataActions, string(a)) }

// goldenRolesRaw returns the golden role list as decoded JSON values.
func goldenRolesRaw(t *testing.T) []any {
	t.Helper()
	b, err := os.ReadFile("testdata/builtin-roles.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var v []any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("builtin-roles.golden.json: %v", err)
	}
	return v
}

func goldenRoles(t *testing.T) []goldenRole {
	t.Helper()
	b, err := os.ReadFile("testdata/builtin-roles.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []struct {
		Name       string `json:"name"`
		Properties struct {
			RoleName    string `json:"roleName"`
			Permissions []struct {
				DataActions []string `json:"dataActions"`
			} `json:"permissions"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var out []goldenRole
	for _, r := range raw {
		g := goldenRole{ID: r.Name, Name: r.Properties.RoleName}
		for _, p := range r.Properties.Permissions {
			g.DataActions = append(g.DataActions, p.DataActions...)
		}
		out = append(out, g)
	}
	if len(out) != 9 {
		t.Fatalf("builtin-roles.golden.json holds %d roles, want the 9 of managed-hsm.md §3.2 that mhsm serves", len(out))
	}
	return out
}

// goldenRoute is one line of testdata/routes.golden.
type goldenRoute struct {
	Action   rbac.Action
	KeyScope bool   // authorized at /keys/{name}
	Scope    string // otherwise: "/" or "/keys"
}

// goldenRoutes maps "METHOD PATTERN" to its golden action and scope.
func goldenRoutes(t *testing.T) map[string]goldenRoute {
	t.Helper()
	f, err := os.Open("testdata/routes.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]goldenRoute{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 4 || (fs[3] != "/" && fs[3] != "/keys" && fs[3] != "key") {
			t.Fatalf("routes.golden:%d: want METHOD PATTERN ACTION SCOPE, got %q", n, line)
		}
		k := fs[0] + " " + fs[1]
		if _, dup := out[k]; dup {
			t.Fatalf("routes.golden:%d: %s listed twice", n, k)
		}
		out[k] = goldenRoute{Action: rbac.Action(rbac.Prefix + fs[2]), KeyScope: fs[3] == "key", Scope: fs[3]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRouteActionsGolden: every data-plane route needs exactly the data
// action, at exactly the scope, that routes.golden says; no golden route is
// missing from the table.
func TestRouteActionsGolden(t *testing.T) {
	golden := goldenRoutes(t)
	seen := map[string]bool{}
	for _, rt := range httpapi.New(httpapi.Deps{}).DataRoutes() {
		k := rt.Method + " " + rt.Pattern
		seen[k] = true
		g, ok := golden[k]
		if !ok {
			t.Errorf("route %s (%s) is not in testdata/routes.golden: add it with its action from the reference", k, rt.Operation)
			continue
		}
		if rt.Action != g.Action {
			t.Errorf("%s needs %s, golden says %s", k, rt.Action, g.Action)
		}
		if rt.KeyScoped != g.KeyScope {
			t.Errorf("%s is authorized at key scope=%v, golden says %v", k, rt.KeyScoped, g.KeyScope)
		}
	}
	for k := range golden {
		if !seen[k] {
			t.Errorf("golden route %s is not served", k)
		}
	}
}

// TestBuiltinRolesGolden: GET roleDefinitions through the server lists the
// built-in roles exactly as builtin-roles.golden.json (the service's own
// listing, managed-hsm.md §3.3), dataActions in the service's order.
func TestBuiltinRolesGolden(t *testing.T) {
	s := testserver.Start(t, nil)
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	st, b, err := s.Call(tok, "GET", s.HSMURL("dev")+"/providers/Microsoft.Authorization/roleDefinitions?api-version=7.6", nil)
	if err != nil || st != http.StatusOK {
		t.Fatalf("list role definitions: %d %s %v", st, b, err)
	}
	var list struct {
		Value []any `json:"value"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	byName := func(vs []any) map[string]any {
		m := map[string]any{}
		for _, v := range vs {
			o := v.(map[string]any)
			if o["properties"].(map[string]any)["type"] == "AKVBuiltInRole" {
				m[o["name"].(string)] = o
			}
		}
		return m
	}
	golden, served := byName(goldenRolesRaw(t)), byName(list.Value)
	for name, g := range golden {
		if !reflect.DeepEqual(g, served[name]) {
			gj, _ := json.Marshal(g)
			sj, _ := json.Marshal(served[name])
			t.Errorf("built-in role %s differs from builtin-roles.golden.json:\ngolden: %s\nserved: %s", name, gj, sj)
		}
	}
	for name := range served {
		if _, ok := golden[name]; !ok {
			t.Errorf("built-in role %s is served but not in builtin-roles.golden.json", name)
		}
	}
}
