package rbac

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

// membershipWorld is a tenant with 10,000 group memberships (2,000
// principals, 500 groups) and n role assignments, half to groups and half
// to principals, at "/" and at key scopes. The caller is one of the
// principals, in `groups` of the groups; its token lists them (at most
// 200, the overage limit), which is how memberships reach Decide.
func membershipWorld(n, groups int, grantCaller bool) (*Policy, Principal) {
	const (
		nPrincipals = 2000
		nGroups     = 500
		memberships = 10000
	)
	rng := rand.New(rand.NewPCG(5, 6))
	principals := make([]string, nPrincipals)
	for i := range principals {
		principals[i] = uuid.NewString()
	}
	groupIDs := make([]string, nGroups)
	for i := range groupIDs {
		groupIDs[i] = uuid.NewString()
	}
	memberOf := make(map[string][]string, nPrincipals)
	// The caller (principal 0) is in the first `groups` groups; the other
	// memberships are spread at random.
	caller := Principal{ObjectID: principals[0], Groups: append([]string(nil), groupIDs[:groups]...)}
	memberOf[principals[0]] = caller.Groups
	for e := groups; e < memberships; e++ {
		p := principals[1+rng.IntN(nPrincipals-1)]
		memberOf[p] = append(memberOf[p], groupIDs[rng.IntN(nGroups)])
	}
	// Assignments never name the caller's own groups, except the one grant
	// below, so that an allowed decision has to reach the caller's last
	// group and a denied one scans them all.
	others := groupIDs[groups:]
	var as []RoleAssignment
	for i := 0; i < n; i++ {
		scope := "/"
		if i%3 == 0 {
			scope = fmt.Sprintf("/keys/k%d", i)
		}
		assignee := principals[1+rng.IntN(nPrincipals-1)]
		if i%2 == 0 {
			assignee = others[rng.IntN(len(others))]
		}
		as = append(as, RoleAssignment{ID: uuid.NewString(), Scope: scope,
			RoleDefinitionID: BuiltinRoles[rng.IntN(len(BuiltinRoles))].ID, PrincipalID: assignee})
	}
	if grantCaller {
		as = append(as, RoleAssignment{ID: "grant", Scope: "/keys/target", RoleDefinitionID: RoleCryptoUser, PrincipalID: caller.Groups[len(caller.Groups)-1]})
	}
	return Compile(BuiltinRoles, as), caller
}

// BenchmarkDecideMemberships measures one decision in a tenant of 10,000
// group memberships with 10 / 200 / 2,000 assignments, for a caller in 10
// groups and in 200 (the most a token lists). "allowed" is granted through
// the caller's last group (the longest allowed path); "denied" scans every
// group and finds nothing. Decide costs O(caller's groups): the assignment
// count should not show.
func BenchmarkDecideMemberships(b *testing.B) {
	for _, n := range []int{10, 200, 2000} {
		for _, g := range []int{10, 200} {
			for _, allowed := range []bool{true, false} {
				name := fmt.Sprintf("assignments=%d/groups=%d/denied", n, g)
				if allowed {
					name = fmt.Sprintf("assignments=%d/groups=%d/allowed", n, g)
				}
				b.Run(name, func(b *testing.B) {
					p, caller := membershipWorld(n, g, allowed)
					if d := p.Decide(caller, KeysSign, "/keys/target"); d.Allowed != allowed {
						b.Fatalf("decision %+v, want allowed=%v", d, allowed)
					}
					b.ReportAllocs()
					for b.Loop() {
						p.Decide(caller, KeysSign, "/keys/target")
					}
				})
			}
		}
	}
}
