package hsm

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// Role changes and the compiled policy.
//
// A role change is one ordered step per HSM: write (one store transaction)
// → read the role state back → compile → install, all under the HSM's
// policyState lock, as the management plane does (mgmt/roles.go). Two role
// writes of one HSM therefore never interleave, and the installed policy is
// never older than the role state in the store: a deleted assignment stops
// granting when DeleteAssignment returns, however slow another write's
// compile is.
//
// Every *HSM value published for one HSM (updateRecord replaces the value on
// activation, recovery and purge-protection changes) shares one policyState,
// so a request still holding an older value installs its change where the
// registry's value sees it.

// policyState is an HSM's compiled policy and the lock ordering its changes.
type policyState struct {
	mu  sync.Mutex // held from a role write until its policy is installed
	cur atomic.Pointer[rbac.Policy]
}

func newPolicyState() *policyState {
	p := &policyState{}
	p.cur.Store(rbac.Compile(rbac.BuiltinRoles, nil))
	return p
}

func (p *policyState) lock(hsm string) {
	if p.mu.TryLock() {
		return
	}
	if testHookRoleWriteWaits != nil {
		testHookRoleWriteWaits(hsm)
	}
	p.mu.Lock()
}

// Test hooks: testHookBeforeInstall runs between reading the role state and
// installing the compiled policy; testHookRoleWriteWaits runs when a role
// write must wait for another one of the same HSM. Nil outside tests.
var (
	testHookBeforeInstall  func(hsm string)
	testHookRoleWriteWaits func(hsm string)
)

// changeRoles runs prepare (nil: none; it may read the role state, which
// no other role change alters until this one is installed), then write
// (nil: none) in one store transaction, and then installs the policy
// compiled from the role state it left: one step ordered with every other
// role change of h.
func (s *Service) changeRoles(ctx context.Context, h *HSM, prepare func() error, write func(tx store.Tx) error) error {
	h.pol.lock(h.Name)
	defer h.pol.mu.Unlock()
	if prepare != nil {
		if err := prepare(); err != nil {
			return err
		}
	}
	if write != nil {
		if err := s.st.Update(ctx, write); err != nil {
			return err
		}
	}
	var defs []rbac.RoleDefinition
	var as []rbac.RoleAssignment
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if defs, err = roleDefinitions(tx, h.Name); err != nil {
			return err
		}
		as, err = assignments(tx, h.Name)
		return err
	})
	if err != nil {
		return err
	}
	p := rbac.Compile(defs, as)
	if testHookBeforeInstall != nil {
		testHookBeforeInstall(h.Name)
	}
	h.pol.cur.Store(p)
	return nil
}

// reloadPolicy recompiles h's policy from the store.
func (s *Service) reloadPolicy(ctx context.Context, h *HSM) error {
	return s.changeRoles(ctx, h, nil, nil)
}
