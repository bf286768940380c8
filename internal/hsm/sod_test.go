package hsm

import (
	"context"
	"testing"

	"github.com/mhsm/mhsm/internal/rbac"
)

// fakeGroups is a GroupResolver over a fixed membership: member → groups.
type fakeGroups map[string][]string

func (g fakeGroups) TransitiveMemberOf(_ context.Context, _, oid string) ([]string, error) {
	return g[oid], nil
}

func (g fakeGroups) TransitiveMemberIDs(_ context.Context, _, gid string) ([]string, error) {
	var out []string
	for m, gs := range g {
		for _, x := range gs {
			if x == gid {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

const (
	sodUser  = "55555555-5555-5555-5555-555555555555"
	sodGroup = "66666666-6666-6666-6666-666666666666"
)

// TestGuardMembershipRefusesConflicts: with the guard on, a membership that
// brings Policy Administrator (held directly) and Crypto User (held by the
// group) together is refused naming the rule, and write is not called.
func TestGuardMembershipRefusesConflicts(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{Groups: fakeGroups{}})
	if _, err := s.UpdateSetting(ctx, h, SettingSoD, "true"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []rbac.RoleAssignment{
		{Scope: "/", RoleDefinitionID: rbac.RolePolicyAdmin, PrincipalID: sodUser},
		{Scope: "/keys/k", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: sodGroup},
	} {
		if _, err := s.Assign(ctx, h, a); err != nil {
			t.Fatal(err)
		}
	}
	wrote := false
	err := s.GuardMembership(ctx, h.TenantID, sodGroup, sodUser, func() error { wrote = true; return nil })
	if e, ok := AsError(err); !ok || e.Kind != KindBadRequest || wrote {
		t.Fatalf("err = %v, wrote = %v: want a refusal naming the rule and no write", err, wrote)
	}
}

// TestGuardMembershipHoldsRoleLock: the membership write runs under the
// HSM's role lock, so a role change started meanwhile waits for it (the
// guard's check and the write cannot be split by a role change).
func TestGuardMembershipHoldsRoleLock(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{Groups: fakeGroups{}})
	waits := make(chan struct{}, 1)
	testHookRoleWriteWaits = func(string) {
		select {
		case waits <- struct{}{}:
		default:
		}
	}
	t.Cleanup(func() { testHookRoleWriteWaits = nil })
	assigned := make(chan error, 1)
	err := s.GuardMembership(ctx, h.TenantID, sodGroup, sodUser, func() error {
		go func() {
			_, err := s.Assign(ctx, h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: sodUser})
			assigned <- err
		}()
		select {
		case <-waits:
			return nil
		case err := <-assigned:
			t.Errorf("a role change ran during the membership write (err %v)", err)
			assigned <- err
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-assigned; err != nil {
		t.Fatal(err)
	}
}
