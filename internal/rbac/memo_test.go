package rbac

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// TestMemoDecidesAsDirect holds the memoized decision of callers in many
// groups to the direct one, first call (miss) and later calls (hits), for
// every action at every scope form, with group ids in other cases,
// repeated, and assignments to the caller, to several of its groups at
// different scopes, and to none of them.
func TestMemoDecidesAsDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	groups := make([]string, 300)
	for i := range groups {
		groups[i] = uuid.NewString()
	}
	caller := uuid.NewString()
	var as []RoleAssignment
	for i := range 60 {
		scope := []string{"/", "/keys", "/keys/k1", "/keys/k2"}[rng.IntN(4)]
		pid := groups[rng.IntN(len(groups))]
		if i == 0 {
			pid = strings.ToUpper(caller)
		}
		as = append(as, RoleAssignment{ID: fmt.Sprint("a", i), Scope: scope, RoleDefinitionID: BuiltinRoles[rng.IntN(len(BuiltinRoles))].ID, PrincipalID: pid})
	}
	p := Compile(BuiltinRoles, as)
	for trial := range 200 {
		n := memoMinGroups + rng.IntN(200)
		pr := Principal{ObjectID: uuid.NewString(), Groups: make([]string, n)}
		if trial%3 == 0 {
			pr.ObjectID = caller
		}
		for i := range pr.Groups {
			g := groups[rng.IntN(len(groups))]
			if rng.IntN(4) == 0 {
				g = strings.ToUpper(g)
			}
			pr.Groups[i] = g
		}
		for pass := range 2 {
			for _, a := range AllActions {
				for _, scope := range []string{"/", "/keys/k1", "/keys/k2", "/keys/k3"} {
					bit := bitOf(a)
					if got, want := p.Decide(pr, a, scope), p.decideDirect(pr, bit, scope); got != want {
						t.Fatalf("trial %d pass %d: %s at %s = %+v, direct %+v", trial, pass, a, scope, got, want)
					}
				}
			}
		}
	}
}

// TestMemoSnapshot: a new Policy (an assignment added) decides from its
// own grants for a caller the old one memoized; the old one is unchanged.
func TestMemoSnapshot(t *testing.T) {
	pr := Principal{ObjectID: "caller"}
	for i := range 20 {
		pr.Groups = append(pr.Groups, fmt.Sprint("g", i))
	}
	old := Compile(BuiltinRoles, nil)
	if old.Decide(pr, KeysSign, "/keys/k").Allowed {
		t.Fatal("allowed without an assignment")
	}
	cur := Compile(BuiltinRoles, []RoleAssignment{{ID: "a", Scope: "/", RoleDefinitionID: RoleCryptoUser, PrincipalID: "g19"}})
	if d := cur.Decide(pr, KeysSign, "/keys/k"); !d.Allowed || d.Assignment != "a" {
		t.Errorf("new policy: %+v", d)
	}
	if old.Decide(pr, KeysSign, "/keys/k").Allowed {
		t.Error("the old policy changed")
	}
}

// TestMemoBounded: however many distinct callers, the memo stays within
// memoMaxBytes and keeps deciding correctly.
func TestMemoBounded(t *testing.T) {
	p := Compile(BuiltinRoles, []RoleAssignment{{ID: "a", Scope: "/", RoleDefinitionID: RoleCryptoUser, PrincipalID: "shared"}})
	groups := make([]string, 200)
	for i := range groups {
		groups[i] = uuid.NewString()
	}
	groups[199] = "shared"
	for i := range 2000 {
		pr := Principal{ObjectID: fmt.Sprint("p", i), Groups: groups}
		if !p.Decide(pr, KeysSign, "/keys/k").Allowed {
			t.Fatalf("caller %d denied", i)
		}
		if p.memo.bytes > memoMaxBytes || len(p.memo.m) == 0 {
			t.Fatalf("after %d callers: %d bytes, %d entries", i, p.memo.bytes, len(p.memo.m))
		}
	}
}

// TestMemoCollision: callers whose hashes collide are told apart by
// their ids (the memo is forced into one bucket here).
func TestMemoCollision(t *testing.T) {
	p := Compile(BuiltinRoles, []RoleAssignment{{ID: "a", Scope: "/", RoleDefinitionID: RoleCryptoUser, PrincipalID: "g1"}})
	in, out := Principal{ObjectID: "x"}, Principal{ObjectID: "x"}
	for i := range 20 {
		in.Groups = append(in.Groups, fmt.Sprint("g", i))
		out.Groups = append(out.Groups, fmt.Sprint("h", i))
	}
	// An entry for out filed under in's hash, as a collision would.
	p.memo.m = map[uint64][]*memoEntry{memoHash(in): {{objectID: out.ObjectID, groups: out.Groups}}}
	if !p.Decide(in, KeysSign, "/keys/k").Allowed {
		t.Error("in was decided with out's entry")
	}
	if p.Decide(out, KeysSign, "/keys/k").Allowed {
		t.Error("out allowed")
	}
}

// TestMemoConcurrent decides for many callers from many goroutines (run
// with -race).
func TestMemoConcurrent(t *testing.T) {
	p, caller := membershipWorld(200, 200, true)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				pr := caller
				if i%2 == 1 {
					pr = Principal{ObjectID: fmt.Sprint(w, "-", i), Groups: caller.Groups}
				}
				if !p.Decide(pr, KeysSign, "/keys/target").Allowed {
					t.Error("denied")
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestBitOf: the exact-spelling shortcut finds what the case-insensitive
// table does, in any case, and nothing for unknown actions.
func TestBitOf(t *testing.T) {
	for _, a := range AllActions {
		want := actionBit[strings.ToLower(string(a))]
		for _, v := range []Action{a, Action(strings.ToUpper(string(a))), Action(strings.ToLower(string(a)))} {
			if bitOf(v) != want || want == 0 {
				t.Errorf("bitOf(%q) = %x, want %x", v, bitOf(v), want)
			}
		}
	}
	if bitOf("Microsoft.KeyVault/managedHsm/keys/nothing") != 0 || bitOf("") != 0 {
		t.Error("an unknown action has a bit")
	}
}
