package hsm

import (
	"context"
	"testing"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// TestFeedReloadOrderedWithRoleWrites: another node's assignment reaches
// this node through the change feed (ApplyChange); its recompile reads the
// store, then stalls before installing. Meanwhile this node deletes the
// assignment. The feed's recompile takes the same per-HSM order as local
// role changes (policystate.go), so when it resumes it cannot install its
// older policy over the delete's: afterwards the assignment grants nothing.
// Like TestRevocationRaceSlowReload it needs no timing: the delete either
// completed or waits its turn (testHookRoleWriteWaits).
func TestFeedReloadOrderedWithRoleWrites(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{})
	const pid = "44444444-4444-4444-4444-444444444444"
	const id = "55555555-5555-5555-5555-555555555555"
	caller := rbac.Principal{ObjectID: pid}

	// "Another node" commits the assignment: straight to the store.
	a := rbac.RoleAssignment{ID: id, Scope: "/", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: pid}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return putJSON(tx, raKey(h.Name, id), &a) }); err != nil {
		t.Fatal(err)
	}

	atInstall := make(chan struct{})
	release := make(chan struct{})
	deleteWaits := make(chan struct{}, 1)
	first := true
	testHookBeforeInstall = func(string) {
		if first { // only the feed's recompile stalls
			first = false
			close(atInstall)
			<-release
		}
	}
	testHookRoleWriteWaits = func(string) {
		select {
		case deleteWaits <- struct{}{}:
		default:
		}
	}
	t.Cleanup(func() { testHookBeforeInstall, testHookRoleWriteWaits = nil, nil })

	feedDone := make(chan struct{})
	go func() {
		s.ApplyChange(ctx, store.Change{Keys: []string{raKey(h.Name, id)}})
		close(feedDone)
	}()
	<-atInstall // the feed's recompile read the assignment, not yet installed

	deleteDone := make(chan error, 1)
	go func() {
		_, err := s.DeleteAssignment(ctx, h, id)
		deleteDone <- err
	}()
	select {
	case err := <-deleteDone:
		deleteDone <- err
	case <-deleteWaits:
	}
	close(release)
	<-feedDone
	if err := <-deleteDone; err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Get(h.Name); cur.Policy().Decide(caller, rbac.KeysSign, "/").Allowed {
		t.Fatal("a deleted role assignment still grants keys/sign: the feed's recompile installed an older policy over the delete's")
	}
}
