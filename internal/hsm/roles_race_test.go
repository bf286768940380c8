package hsm

import (
	"context"
	"testing"

	"github.com/mhsm/mhsm/internal/rbac"
)

// TestRevocationRaceSlowReload forces the interleaving of issue #13.1: an
// assignment's policy reload reads the store, then stalls before installing;
// meanwhile the assignment is deleted and that delete's policy installed.
// When the stalled reload resumes it must not install its older policy:
// after both calls return, the deleted assignment grants nothing.
//
// The test learns that the delete either finished or is waiting its turn
// from testHookRoleWriteWaits, so it needs no timing.
func TestRevocationRaceSlowReload(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{})
	const pid = "22222222-2222-2222-2222-222222222222"
	caller := rbac.Principal{ObjectID: pid}

	atInstall := make(chan struct{})
	release := make(chan struct{})
	deleteWaits := make(chan struct{}, 1)
	first := true
	testHookBeforeInstall = func(string) {
		if first { // only the assignment's reload stalls
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

	const id = "33333333-3333-3333-3333-333333333333"
	assignDone := make(chan error, 1)
	go func() {
		_, err := s.Assign(ctx, h, rbac.RoleAssignment{ID: id, Scope: "/", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: pid})
		assignDone <- err
	}()
	<-atInstall // the assignment is stored and its policy compiled, not yet installed

	deleteDone := make(chan error, 1)
	go func() {
		_, err := s.DeleteAssignment(ctx, h, id)
		deleteDone <- err
	}()
	select {
	case err := <-deleteDone: // the delete ran to completion past the stalled reload
		deleteDone <- err
	case <-deleteWaits: // the delete waits for the assignment to finish
	}
	close(release)
	if err := <-assignDone; err != nil {
		t.Fatal(err)
	}
	if err := <-deleteDone; err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAssignment(ctx, h, id); err == nil {
		t.Fatal("the assignment is still stored after its delete")
	}
	if cur, _ := s.Get(h.Name); cur.Policy().Decide(caller, rbac.KeysSign, "/").Allowed {
		t.Fatal("a deleted role assignment still grants keys/sign: an older policy was installed over the delete's")
	}
}

// TestRoleWriteThroughStaleHSMValue: a request that fetched its *HSM before
// a record update (which publishes a new *HSM value) deletes an assignment;
// the HSM served from the registry afterwards must not keep granting it.
func TestRoleWriteThroughStaleHSMValue(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{})
	const pid = "44444444-4444-4444-4444-444444444444"
	a, err := s.Assign(ctx, h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: pid})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnablePurgeProtection(ctx, h.Name); err != nil { // publishes a new *HSM value
		t.Fatal(err)
	}
	if _, err := s.DeleteAssignment(ctx, h, a.ID); err != nil { // h is the stale value
		t.Fatal(err)
	}
	cur, _ := s.Get(h.Name)
	if cur.Policy().Decide(rbac.Principal{ObjectID: pid}, rbac.KeysSign, "/").Allowed {
		t.Fatal("the live HSM still grants a deleted assignment (the delete installed its policy on a stale HSM value)")
	}
}
