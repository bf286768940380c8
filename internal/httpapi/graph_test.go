package httpapi

import (
	"strings"
	"testing"
)

// TestGraphRoutesDeclareWrites: every route that changes the directory is
// marked Write (tenant administrator only). The only POSTs that read are
// listed here by name.
func TestGraphRoutesDeclareWrites(t *testing.T) {
	readOnlyPOST := map[string]bool{
		"/v1.0/directoryObjects/getByIds":    true,
		"/v1.0/{kind}/{id}/getMemberObjects": true,
		"/v1.0/{kind}/{id}/getMemberGroups":  true,
	}
	seen := map[string]bool{}
	for _, r := range graphRoutes {
		if r.Handle == nil {
			t.Errorf("%s %s has no handler", r.Method, r.Pattern)
		}
		if r.Operation == "" {
			t.Errorf("%s %s has no operation name", r.Method, r.Pattern)
		}
		key := r.Method + " " + strings.ToLower(r.Pattern)
		if seen[key] {
			t.Errorf("duplicate route %s", key)
		}
		seen[key] = true
		mutating := r.Method != "GET" && !(r.Method == "POST" && readOnlyPOST[r.Pattern])
		if mutating != r.Write {
			t.Errorf("%s %s: Write=%v, want %v", r.Method, r.Pattern, r.Write, mutating)
		}
	}
}

func TestGraphMatch(t *testing.T) {
	graph := newRouter(graphRoutes, graphRouteSpec)
	for _, c := range []struct {
		method, path, want string
		params             map[string]string
	}{
		{"GET", "/v1.0/users/ada@x", "/v1.0/users/{id}", map[string]string{"id": "ada@x"}},
		{"POST", "/v1.0/groups/g1/members/$ref", "/v1.0/groups/{id}/members/$ref", map[string]string{"id": "g1"}},
		{"POST", "/v1.0/groups/g1/members/%24ref", "/v1.0/groups/{id}/members/$ref", nil},
		{"DELETE", "/v1.0/groups/g1/members/m1/$ref", "/v1.0/groups/{id}/members/{member}/$ref", map[string]string{"member": "m1"}},
		{"GET", "/v1.0/applications(appId='abc')", "/v1.0/applications/{id}", map[string]string{"id": "appId:abc"}},
		{"GET", "/V1.0/Users", "/v1.0/users", nil},
		{"GET", "/v1.0/users/u1/transitiveMemberOf", "/v1.0/{kind}/{id}/transitiveMemberOf", map[string]string{"kind": "users"}},
	} {
		segs, err := graphSegments(c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		rt, p, _ := graph.match(c.method, segs)
		if rt == nil || rt.Pattern != c.want {
			t.Errorf("%s %s matched %v, want %s", c.method, c.path, rt, c.want)
			continue
		}
		for k, v := range c.params {
			if p[k] != v {
				t.Errorf("%s: param %s = %q, want %q", c.path, k, p[k], v)
			}
		}
	}
	if _, err := graphSegments("/v1.0/users/../groups"); err == nil {
		t.Error("dot-dot accepted")
	}
	if rt, _, exists := graph.match("PUT", []string{"v1.0", "users"}); rt != nil || !exists {
		t.Error("PUT /users should be 405")
	}
}

func TestGraphFilter(t *testing.T) {
	items := []gobj{
		{"displayName": "Contoso Security Team", "id": "1", "securityEnabled": true},
		{"displayName": "App DevOps", "id": "2", "securityEnabled": true},
		{"displayName": "O'Brien", "id": "3", "securityEnabled": false, "servicePrincipalNames": []string{"AppId-3", "api://o"}},
	}
	for _, c := range []struct {
		f    string
		want []string
		bad  bool
	}{
		{"displayName eq 'contoso security team'", []string{"1"}, false},
		{"startswith(displayName,'app')", []string{"2"}, false},
		{"startswith(displayName, 'App')", []string{"2"}, false},
		{"displayName eq 'O''Brien'", []string{"3"}, false},
		{"securityEnabled eq true and startswith(displayName,'C')", []string{"1"}, false},
		{"securityEnabled eq false", []string{"3"}, false},
		{"id eq '4'", nil, false},
		{"mail eq 'x'", nil, true},
		{"displayName ne 'x'", nil, true},
		{"displayName eq 'x' or id eq '1'", nil, true},
		{"displayName eq x", nil, true},
		{strings.Repeat("a", 3000), nil, true},
		// az ad sp show --id <appId>, az role assignment create --assignee <appId>
		{"servicePrincipalNames/any(c:c eq 'appid-3')", []string{"3"}, false},
		{"servicePrincipalNames/any(c: c eq 'api://o') and securityEnabled eq false", []string{"3"}, false},
		{"servicePrincipalNames/any(c:c eq 'nope')", nil, false},
		{"identifierUris/any(s:s eq 'api://o')", nil, false},
		{"servicePrincipalNames/any(c:x eq 'api://o')", nil, true},
		{"displayName/any(c:c eq 'App DevOps')", nil, true},
		{"servicePrincipalNames eq 'appid-3'", nil, true},
	} {
		got, err := applyFilter(c.f, items)
		if (err != nil) != c.bad {
			t.Errorf("%q: err %v", c.f, err)
			continue
		}
		var ids []string
		for _, g := range got {
			ids = append(ids, g["id"].(string))
		}
		if strings.Join(ids, ",") != strings.Join(c.want, ",") {
			t.Errorf("%q = %v, want %v", c.f, ids, c.want)
		}
	}
}
