package armrbac

import (
	"fmt"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "Microsoft.KeyVault/managedHSMs/write", true},
		{"*/read", "Microsoft.KeyVault/managedHSMs/read", true},
		{"*/read", "Microsoft.Resources/subscriptions/resourceGroups/read", true},
		{"*/read", "Microsoft.KeyVault/managedHSMs/write", false},
		{"*/read", "Microsoft.KeyVault/locations/deletedManagedHsms/purge/action", false},
		{"Microsoft.KeyVault/managedHSMs/*", "Microsoft.KeyVault/managedHSMs/delete", true},
		{"Microsoft.KeyVault/managedHSMs/*", "microsoft.keyvault/MANAGEDHSMS/write", true},
		{"Microsoft.KeyVault/managedHSMs/*", "Microsoft.KeyVault/managedHSMs/providers/Microsoft.Insights/diagnosticSettings/write", true},
		{"Microsoft.KeyVault/managedHSMs/*", "Microsoft.KeyVault/managedHSMsX/write", false},
		{"Microsoft.KeyVault/managedHSMs/*", "Microsoft.KeyVault/deletedManagedHsms/read", false},
		{"Microsoft.KeyVault/managedHSMs/*", "Microsoft.KeyVault/managedHSMs", false},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", true},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/read", false},
		{"Microsoft.Authorization/*", "Microsoft.Authorization/roleDefinitions/delete", true},
		{"Microsoft.Insights/diagnosticSettings/read", "Microsoft.Insights/diagnosticSettings/read", true},
		{"Microsoft.Insights/diagnosticSettings/read", "Microsoft.Insights/diagnosticSettings/readx", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXcYYb", false},
		{"**", "", true},
		{"", "x", false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s~%s", c.pattern, c.action), func(t *testing.T) {
			if got := Match(c.pattern, c.action); got != c.want {
				t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.action, got, c.want)
			}
		})
	}
}

// TestBuiltinRoles pins what each built-in role grants among the actions
// mhsm enforces.
func TestBuiltinRoles(t *testing.T) {
	want := map[string]map[Action]bool{
		RoleOwner: {HSMWrite: true, HSMDelete: true, RoleAssignmentsWrite: true, RoleAssignmentsDelete: true, ResourceGroupWrite: true, DiagnosticSettingsWrite: true, DeletedHSMPurge: true, SubscriptionsRead: true},
		RoleContributor: {HSMWrite: true, HSMDelete: true, ResourceGroupWrite: true, DiagnosticSettingsWrite: true, DeletedHSMPurge: true, RoleAssignmentsRead: true,
			RoleAssignmentsWrite: false, RoleAssignmentsDelete: false, RoleDefinitionsWrite: false, RoleDefinitionsDelete: false},
		RoleReader: {HSMRead: true, RoleAssignmentsRead: true, ResourceGroupsRead: true, DiagnosticSettingsRead: true, DeletedHSMsRead: true,
			HSMWrite: false, HSMDelete: false, RoleAssignmentsWrite: false, DeletedHSMPurge: false, ResourceGroupWrite: false},
		RoleUserAccessAdministrator: {RoleAssignmentsWrite: true, RoleAssignmentsDelete: true, RoleDefinitionsWrite: true, HSMRead: true,
			HSMWrite: false, HSMDelete: false, ResourceGroupWrite: false},
		RoleManagedHSMContributor: {HSMRead: true, HSMWrite: true, HSMDelete: true, DeletedHSMsRead: true, DeletedHSMRead: true, DeletedHSMPurge: true,
			HSMOperationRead: true, HSMDiagnosticSettingsWrite: true, HSMDiagnosticSettingsRead: true,
			DiagnosticSettingsWrite: false, RoleAssignmentsWrite: false, RoleAssignmentsRead: false, ResourceGroupWrite: false, ResourceGroupsRead: false, SubscriptionsRead: false},
	}
	for id, acts := range want {
		d, ok := Builtin(id)
		if !ok {
			t.Fatalf("no built-in role %s", id)
		}
		for a, w := range acts {
			if got := d.Grants(a); got != w {
				t.Errorf("%s grants %s = %v, want %v", d.RoleName, a, got, w)
			}
		}
	}
}

func TestEveryActionIsDistinctAndKnown(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range Actions {
		if !Known(a) {
			t.Errorf("%s not known", a)
		}
		k := string(a)
		if seen[k] {
			t.Errorf("%s twice", a)
		}
		seen[k] = true
	}
	if Known("Microsoft.KeyVault/vaults/write") {
		t.Error("unknown action reported known")
	}
}

func TestParseScope(t *testing.T) {
	const sub = "00000000-0000-0000-0000-000000000001"
	good := []struct {
		in, str string
		level   Level
	}{
		{"/", "/", LevelRoot},
		{"", "/", LevelRoot},
		{"/subscriptions/" + sub, "/subscriptions/" + sub, LevelSubscription},
		{"//SUBSCRIPTIONS//" + sub + "/", "/subscriptions/" + sub, LevelSubscription},
		{"/subscriptions/" + sub + "/resourcegroups/My.RG_(1)", "/subscriptions/" + sub + "/resourceGroups/My.RG_(1)", LevelResourceGroup},
		{"/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/h1", "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/h1", LevelResource},
		{"/subscriptions/" + sub + "/providers/Microsoft.KeyVault/locations/x", "/subscriptions/" + sub + "/providers/Microsoft.KeyVault/locations/x", LevelResource},
	}
	for _, c := range good {
		s, err := ParseScope(c.in)
		if err != nil {
			t.Errorf("ParseScope(%q): %v", c.in, err)
			continue
		}
		if s.String() != c.str || s.Level() != c.level {
			t.Errorf("ParseScope(%q) = %q level %d, want %q level %d", c.in, s.String(), s.Level(), c.str, c.level)
		}
	}
	bad := []string{
		"/subscriptions", "/subscriptions/not-a-guid", "/tenants/x",
		"/subscriptions/" + sub + "/resourceGroups/rg.", "/subscriptions/" + sub + "/resourceGroups/a b",
		"/subscriptions/" + sub + "/resourceGroups/rg/providers", "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs",
		"/subscriptions/" + sub + "/resourceGroups/rg/../x", "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/h/providers/x",
	}
	for _, b := range bad {
		if s, err := ParseScope(b); err == nil {
			t.Errorf("ParseScope(%q) = %q, want error", b, s.String())
		}
	}
}

const (
	sub1  = "11111111-1111-1111-1111-111111111111"
	sub2  = "22222222-2222-2222-2222-222222222222"
	alice = "aaaaaaaa-0000-0000-0000-000000000001"
	bob   = "bbbbbbbb-0000-0000-0000-000000000002"
	team  = "cccccccc-0000-0000-0000-000000000003"
)

func TestDecideInheritsDownwardOnly(t *testing.T) {
	rg := ResourceGroupScope(sub1, "ContosoAppRG")
	p := Compile(BuiltinRoles, []Assignment{
		{Name: "a1", Scope: rg.String(), RoleDefinitionID: RoleManagedHSMContributor, PrincipalID: team},
		{Name: "a2", Scope: HSMScope(sub1, "other", "h9").String(), RoleDefinitionID: RoleReader, PrincipalID: alice},
		{Name: "a3", Scope: SubscriptionScope(sub2).String(), RoleDefinitionID: RoleOwner, PrincipalID: bob},
	})
	member := Principal{ObjectID: alice, Groups: []string{team}}
	cases := []struct {
		name   string
		pr     Principal
		action Action
		scope  Scope
		want   bool
	}{
		{"group grant at rg covers hsm in rg", member, HSMWrite, HSMScope(sub1, "contosoapprg", "h1"), true},
		{"group grant at rg covers rg", member, HSMWrite, rg, true},
		{"not the subscription above", member, HSMWrite, SubscriptionScope(sub1), false},
		{"not a sibling rg", member, HSMWrite, HSMScope(sub1, "other", "h1"), false},
		{"not an action outside the role", member, RoleAssignmentsWrite, rg, false},
		{"resource-scoped reader reads that hsm", member, HSMRead, HSMScope(sub1, "other", "h9"), true},
		{"resource-scoped reader not another hsm", member, HSMRead, HSMScope(sub1, "other", "h8"), false},
		{"non-member gets nothing", Principal{ObjectID: bob}, HSMWrite, rg, false},
		{"owner of sub2 nothing in sub1", Principal{ObjectID: bob}, HSMRead, HSMScope(sub1, "ContosoAppRG", "h1"), false},
		{"owner of sub2 everything in sub2", Principal{ObjectID: bob}, RoleAssignmentsWrite, HSMScope(sub2, "x", "h1"), true},
		{"unknown action denied", Principal{ObjectID: bob}, "Microsoft.Compute/virtualMachines/write", SubscriptionScope(sub2), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := p.Decide(c.pr, c.action, c.scope)
			if d.Allowed != c.want {
				t.Fatalf("Decide = %+v, want allowed %v", d, c.want)
			}
			if d.Allowed && d.Assignment == "" {
				t.Fatal("allowed without a granting assignment")
			}
		})
	}
	d := p.Decide(member, HSMDelete, HSMScope(sub1, "ContosoAppRG", "h1"))
	if d.Assignment != rg.String()+"/providers/Microsoft.Authorization/roleAssignments/a1" || d.Role != RoleManagedHSMContributor || d.Scope != rg.String() {
		t.Errorf("decision record = %+v", d)
	}
}

func TestNotActionsAreRoleLocal(t *testing.T) {
	s := SubscriptionScope(sub1)
	contributorOnly := Compile(BuiltinRoles, []Assignment{{Name: "c", Scope: s.String(), RoleDefinitionID: RoleContributor, PrincipalID: alice}})
	if contributorOnly.Decide(Principal{ObjectID: alice}, RoleAssignmentsWrite, s).Allowed {
		t.Fatal("Contributor may not write role assignments")
	}
	withUAA := Compile(BuiltinRoles, []Assignment{
		{Name: "c", Scope: s.String(), RoleDefinitionID: RoleContributor, PrincipalID: alice},
		{Name: "u", Scope: s.String(), RoleDefinitionID: RoleUserAccessAdministrator, PrincipalID: alice},
	})
	d := withUAA.Decide(Principal{ObjectID: alice}, RoleAssignmentsWrite, s)
	if !d.Allowed || d.Role != RoleUserAccessAdministrator {
		t.Fatalf("another role's grant must survive Contributor's notActions: %+v", d)
	}
}

func TestCustomRoles(t *testing.T) {
	custom := RoleDefinition{ID: "99999999-9999-9999-9999-999999999999", RoleName: "HSM operator", RoleType: TypeCustom,
		AssignableScopes: []string{SubscriptionScope(sub1).String()},
		Permissions:      []Permission{{Actions: []string{"Microsoft.KeyVault/managedHSMs/*"}, NotActions: []string{"Microsoft.KeyVault/managedHSMs/delete"}}}}
	p := Compile(append(append([]RoleDefinition{}, BuiltinRoles...), custom), []Assignment{
		{Name: "x", Scope: SubscriptionScope(sub1).String(), RoleDefinitionID: custom.ID, PrincipalID: alice},
		{Name: "y", Scope: SubscriptionScope(sub1).String(), RoleDefinitionID: "deadbeef-0000-0000-0000-000000000000", PrincipalID: bob},
	})
	h := HSMScope(sub1, "rg", "h")
	if !p.Decide(Principal{ObjectID: alice}, HSMWrite, h).Allowed || p.Decide(Principal{ObjectID: alice}, HSMDelete, h).Allowed {
		t.Fatal("custom role wildcard/notActions wrong")
	}
	if p.Decide(Principal{ObjectID: bob}, HSMRead, h).Allowed {
		t.Fatal("assignment of an unknown role granted something")
	}
	if !custom.AssignableAt(h) || custom.AssignableAt(SubscriptionScope(sub2)) {
		t.Fatal("assignable scopes wrong")
	}
}

func TestVisible(t *testing.T) {
	p := Compile(BuiltinRoles, []Assignment{{Name: "a", Scope: ResourceGroupScope(sub1, "rg").String(), RoleDefinitionID: RoleReader, PrincipalID: team}})
	m := Principal{ObjectID: alice, Groups: []string{team}}
	if !p.Visible(m, SubscriptionScope(sub1)) || !p.Visible(m, HSMScope(sub1, "rg", "x")) {
		t.Fatal("assignment in an rg must make its subscription and children visible")
	}
	if p.Visible(m, SubscriptionScope(sub2)) || p.Visible(Principal{ObjectID: bob}, SubscriptionScope(sub1)) || p.Visible(m, ResourceGroupScope(sub1, "rg2")) {
		t.Fatal("visible where nothing is assigned")
	}
}

// BenchmarkDecide shows Decide does not grow with the number of assignments.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 100000} {
		var as []Assignment
		for i := range n {
			as = append(as, Assignment{Name: fmt.Sprint(i), Scope: HSMScope(sub1, "rg", fmt.Sprintf("h%d", i)).String(), RoleDefinitionID: RoleReader, PrincipalID: fmt.Sprintf("%08d-0000-0000-0000-000000000000", i)})
		}
		p := Compile(BuiltinRoles, as)
		pr := Principal{ObjectID: fmt.Sprintf("%08d-0000-0000-0000-000000000000", n/2), Groups: []string{team, bob}}
		sc := HSMScope(sub1, "rg", fmt.Sprintf("h%d", n/2))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if !p.Decide(pr, HSMRead, sc).Allowed {
					b.Fatal("denied")
				}
			}
		})
	}
}

func FuzzParseScope(f *testing.F) {
	f.Add("/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/h")
	f.Add("/")
	f.Add("/subscriptions/x/../")
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			return
		}
		again, err := ParseScope(sc.String())
		if err != nil || again.Key() != sc.Key() {
			t.Fatalf("round trip of %q: %q (%v)", s, again.String(), err)
		}
		anc := sc.Ancestors()
		if anc[len(anc)-1] != sc.Key() && sc.Subscription != "" {
			t.Fatalf("last ancestor %q is not the scope %q", anc[len(anc)-1], sc.Key())
		}
	})
}
