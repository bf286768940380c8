package rbac

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"
)

func roleActions(id string) []Action {
	r, _ := Builtin(id)
	var out []Action
	for _, a := range r.Permissions[0].DataActions {
		out = append(out, Action(a))
	}
	return out
}

// TestBuiltinRoleTable decides every built-in role × every action at every
// scope form against the role table.
func TestBuiltinRoleTable(t *testing.T) {
	for _, role := range BuiltinRoles {
		// reaches: the targets a grant at each scope covers ("/keys" is a
		// scope of its own: every key, not the HSM).
		reaches := map[string][]string{"/": {"/", "/keys", "/keys/k", "/keys/other"},
			"/keys": {"/keys", "/keys/k", "/keys/other"}, "/keys/k": {"/keys/k"}}
		for _, at := range []string{"/", "/keys", "/keys/k"} {
			p := Compile(BuiltinRoles, []RoleAssignment{{ID: "a1", Scope: at, RoleDefinitionID: role.ID, PrincipalID: "p"}})
			for _, a := range AllActions {
				for _, target := range []string{"/", "/keys", "/keys/k", "/keys/other"} {
					want := slices.Contains(roleActions(role.ID), a) && slices.Contains(reaches[at], target)
					d := p.Decide(Principal{ObjectID: "p"}, a, target)
					if d.Allowed != want {
						t.Errorf("%s at %s: %s on %s = %v, want %v", role.RoleName, at, a, target, d.Allowed, want)
					}
					if d.Allowed && d.Assignment != "a1" {
						t.Errorf("decision names assignment %q", d.Assignment)
					}
					if other := p.Decide(Principal{ObjectID: "q"}, a, target); other.Allowed {
						t.Errorf("an unassigned principal was allowed %s", a)
					}
				}
			}
		}
	}
}

func TestGroupsAndNotDataActions(t *testing.T) {
	custom := RoleDefinition{ID: "c1", Type: TypeCustom, Permissions: []Permission{{
		DataActions: []string{string(KeysSign), string(KeysVerify)}, NotDataActions: []string{string(KeysSign)}}}}
	defs := append(slices.Clone(BuiltinRoles), custom)
	p := Compile(defs, []RoleAssignment{
		{ID: "g", Scope: "/keys/k", RoleDefinitionID: RoleCryptoUser, PrincipalID: "group1"},
		{ID: "c", Scope: "/", RoleDefinitionID: "c1", PrincipalID: "user"},
	})
	if d := p.Decide(Principal{ObjectID: "user"}, KeysSign, "/keys/k"); d.Allowed {
		t.Error("notDataActions did not exclude sign")
	}
	if d := p.Decide(Principal{ObjectID: "user"}, KeysVerify, "/keys/k"); !d.Allowed || d.Assignment != "c" {
		t.Errorf("verify via custom role: %+v", d)
	}
	d := p.Decide(Principal{ObjectID: "user", Groups: []string{"group1"}}, KeysSign, "/keys/k")
	if !d.Allowed || d.Assignment != "g" {
		t.Errorf("sign via group: %+v", d)
	}
	if d := p.Decide(Principal{ObjectID: "user", Groups: []string{"group1"}}, KeysSign, "/keys/ka"); d.Allowed {
		t.Error("/keys/k grant reached /keys/ka")
	}
}

func TestCanonicalScope(t *testing.T) {
	ok := map[string]string{"/": "/", "": "/", "/keys": "/keys", "/keys/": "/keys", "//keys//": "/keys", "/KEYS": "/keys", "/KEYS/MyKey": "/keys/mykey",
		"/keys/a-b": "/keys/a-b", "/keys/%61b": "/keys/ab"}
	for in, want := range ok {
		got, err := CanonicalScope(in)
		if err != nil || got != want {
			t.Errorf("CanonicalScope(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/keys/a/b", "/keys/..", "/keys/../k", "/secrets", "/keys/a%2Fb", "/keys/a_b", "/keys/%zz", "/keys/."} {
		if got, err := CanonicalScope(bad); err == nil {
			t.Errorf("CanonicalScope(%q) = %q, want error", bad, got)
		}
	}
}

// TestSeparationProperties: random assignment sets of built-in roles never
// let Administrator use a key, Crypto User purge, Auditor read material or
// use a key, or Policy Administrator touch keys.
func TestSeparationProperties(t *testing.T) {
	keyUse := []Action{KeysSign, KeysVerify, KeysEncrypt, KeysDecrypt, KeysWrap, KeysUnwrap, KeysRelease, KeysExport, KeysCreate, KeysImport, KeysDelete, KeysRotate, KeysBackup, KeysRestore}
	forbidden := map[string][]Action{
		RoleAdministrator: keyUse,
		RoleCryptoUser:    {DeletedKeysDelete},
		RoleCryptoAuditor: append(slices.Clone(keyUse), KeysWrite, DeletedKeysDelete, DeletedKeysRecover),
		RolePolicyAdmin:   append(slices.Clone(keyUse), KeysRead, KeysWrite, DeletedKeysRead, DeletedKeysDelete, DeletedKeysRecover),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	scopes := []string{"/", "/keys", "/keys/a", "/keys/b"}
	for iter := 0; iter < 300; iter++ {
		var as []RoleAssignment
		for i := 0; i < 1+rng.IntN(40); i++ {
			r := BuiltinRoles[rng.IntN(len(BuiltinRoles))]
			as = append(as, RoleAssignment{ID: fmt.Sprint(i), Scope: scopes[rng.IntN(len(scopes))], RoleDefinitionID: r.ID, PrincipalID: fmt.Sprint("p", rng.IntN(6))})
		}
		p := Compile(BuiltinRoles, as)
		for _, a := range as {
			bad := forbidden[a.RoleDefinitionID]
			for _, act := range bad {
				for _, sc := range []string{"/", "/keys/a", "/keys/b"} {
					if d := p.Decide(Principal{ObjectID: a.PrincipalID}, act, sc); d.Allowed {
						var granting RoleAssignment
						for _, x := range as {
							if x.ID == d.Assignment {
								granting = x
							}
						}
						if granting.RoleDefinitionID == a.RoleDefinitionID {
							t.Fatalf("role %s granted %s via its own assignment", a.RoleDefinitionID, act)
						}
					}
				}
			}
		}
	}
}

// benchPolicy builds n assignments (spread over 200 principals, scopes and
// roles) and a caller in `groups` groups.
func benchPolicy(n, groups int) (*Policy, Principal) {
	rng := rand.New(rand.NewPCG(3, 4))
	var as []RoleAssignment
	principals := make([]string, 200)
	for i := range principals {
		principals[i] = uuid.NewString()
	}
	for i := 0; i < n; i++ {
		scope := "/"
		if i%2 == 0 {
			scope = fmt.Sprintf("/keys/k%d", i)
		}
		as = append(as, RoleAssignment{ID: uuid.NewString(), Scope: scope, RoleDefinitionID: BuiltinRoles[rng.IntN(len(BuiltinRoles))].ID, PrincipalID: principals[i%len(principals)]})
	}
	caller := Principal{ObjectID: uuid.NewString()}
	for i := 0; i < groups; i++ {
		caller.Groups = append(caller.Groups, uuid.NewString())
	}
	// The caller is granted sign through its last group, at one key.
	g := caller.Groups[len(caller.Groups)-1]
	as = append(as, RoleAssignment{ID: "grant", Scope: "/keys/target", RoleDefinitionID: RoleCryptoUser, PrincipalID: g})
	return Compile(BuiltinRoles, as), caller
}

// BenchmarkDecide measures one decision with 10 / 200 / 2,000 assignments;
// the caller's token lists 10 groups, and the directory behind holds 10,000
// memberships (memberships only enter a decision as the caller's group
// list, which is what the groups parameter models).
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 200, 2000} {
		b.Run(fmt.Sprintf("assignments=%d", n), func(b *testing.B) {
			p, caller := benchPolicy(n, 10)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if d := p.Decide(caller, KeysSign, "/keys/target"); !d.Allowed {
					b.Fatal("denied")
				}
			}
		})
	}
}

func TestBenchPolicyDecides(t *testing.T) {
	p, caller := benchPolicy(2000, 10)
	if d := p.Decide(caller, KeysSign, "/keys/target"); !d.Allowed || d.Assignment != "grant" {
		t.Fatalf("%+v", d)
	}
	if d := p.Decide(caller, KeysSign, "/keys/targetx"); d.Allowed {
		t.Fatal("prefix match")
	}
}
