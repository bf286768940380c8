package rbac

import "testing"

// TestCustomRolesNeverGrantSecurityDomainActions: a custom role that lists
// security domain actions (stored before the write-time refusal existed,
// or written around the API) grants none of them; the built-in
// Administrator still does (issue #14.5).
func TestCustomRolesNeverGrantSecurityDomainActions(t *testing.T) {
	var sd []string
	for _, a := range AllActions {
		if SecurityDomainAction(string(a)) {
			sd = append(sd, string(a))
		}
	}
	if len(sd) != 5 {
		t.Fatalf("security domain actions: %v, want the 5 of managed-hsm.md", sd)
	}
	custom := RoleDefinition{ID: "c0ffee00-0000-0000-0000-000000000001", Type: TypeCustom,
		Permissions: []Permission{{DataActions: append([]string{string(KeysRead)}, sd...)}}}
	defs := append(append([]RoleDefinition(nil), BuiltinRoles...), custom)
	as := []RoleAssignment{
		{ID: "1", Scope: "/", RoleDefinitionID: custom.ID, PrincipalID: "p"},
		{ID: "2", Scope: "/", RoleDefinitionID: RoleAdministrator, PrincipalID: "admin"},
	}
	p := Compile(defs, as)
	for _, a := range sd {
		if p.Decide(Principal{ObjectID: "p"}, Action(a), "/").Allowed {
			t.Errorf("custom role grants %s", a)
		}
		if !p.Decide(Principal{ObjectID: "admin"}, Action(a), "/").Allowed {
			t.Errorf("Administrator lost %s", a)
		}
	}
	if !p.Decide(Principal{ObjectID: "p"}, KeysRead, "/").Allowed {
		t.Error("the custom role's other action was dropped")
	}
	for _, g := range Grants(defs, as, "p") {
		if SecurityDomainAction(string(g)) {
			t.Errorf("Grants lists %s for the custom role", g)
		}
	}
}
