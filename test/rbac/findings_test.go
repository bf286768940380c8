package rbac_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// Regression tests for the security review of issue #14 (findings 1, 2 and
// 5), each through the real HTTPS server. docs/security.md explains
// the threat each one covers.

const rdPath = "/providers/Microsoft.Authorization/roleDefinitions/"

// putCustomRole creates custom role id with dataActions through the API as
// the caller holding tok and returns the status.
func putCustomRole(t *testing.T, s *testserver.Server, tok, prefix, id, name string, actions ...rbac.Action) (int, []byte) {
	t.Helper()
	da := make([]string, len(actions))
	for i, a := range actions {
		da[i] = string(a)
	}
	st, b, err := s.Call(tok, "PUT", s.HSMURL("dev")+prefix+rdPath+id+"?api-version=7.6", wire.RoleDefinitionCreateParameters{
		Properties: wire.RoleDefinitionProperties{RoleName: name, Permissions: []rbac.Permission{{DataActions: da}}}})
	if err != nil {
		t.Fatal(err)
	}
	return st, b
}

// TestKeyScopedRoleCannotTouchDefinitions is finding 14.1: Policy
// Administrator on /keys/k3 only may not delete (nor write) the HSM's role
// definitions by calling the definition routes under /keys/k3; definitions
// live at "/" and are authorized there whatever path names them.
func TestKeyScopedRoleCannotTouchDefinitions(t *testing.T) {
	s := testserver.Start(t, nil)
	devTok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	custom := uuid.NewString()
	if st, b := putCustomRole(t, s, devTok, "", custom, "signer", rbac.KeysSign); st != http.StatusCreated {
		t.Fatalf("create custom role: %d %s", st, b)
	}
	_, tok := spWithRole(t, s, rbac.RolePolicyAdmin, "/keys/k3")
	base := s.HSMURL("dev")
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/keys/k3" + rdPath + custom},
		{"DELETE", "/keys" + rdPath + custom},
		{"DELETE", rdPath + custom},
		{"PUT", "/keys/k3" + rdPath + uuid.NewString()},
	} {
		var body any
		if c.method == "PUT" {
			body = wire.RoleDefinitionCreateParameters{Properties: wire.RoleDefinitionProperties{RoleName: "x-" + uuid.NewString()[:6],
				Permissions: []rbac.Permission{{DataActions: []string{string(rbac.KeysRead)}}}}}
		}
		st, b, err := s.Call(tok, c.method, base+c.path+"?api-version=7.6", body)
		if err != nil {
			t.Fatal(err)
		}
		if st != http.StatusForbidden {
			t.Errorf("key-scoped Policy Administrator: %s %s → %d %s, want 403", c.method, c.path, st, b)
		}
	}
	h, _ := s.App.HSMs().Get("dev")
	if _, err := s.App.HSMs().GetRoleDefinition(context.Background(), h, custom); err != nil {
		t.Errorf("the custom role is gone: %v", err)
	}
	// An HSM-wide Policy Administrator still may, through any path form.
	_, admin := spWithRole(t, s, rbac.RolePolicyAdmin, "/")
	if st, b, _ := s.Call(admin, "DELETE", base+"/keys/k3"+rdPath+custom+"?api-version=7.6", nil); st != http.StatusOK {
		t.Errorf("HSM-wide Policy Administrator deleting via /keys/k3: %d %s", st, b)
	}
}

// sodWorld is a dev server with the separation-of-duties guard on.
type sodWorld struct {
	s      *testserver.Server
	devTok string
	base   string
}

func newSoDWorld(t *testing.T) *sodWorld {
	t.Helper()
	s := testserver.Start(t, nil)
	devTok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	w := &sodWorld{s: s, devTok: devTok, base: s.HSMURL("dev")}
	if st, b, err := s.Call(devTok, "PATCH", w.base+"/settings/SeparationOfDutiesGuard?api-version=7.6", map[string]any{"value": "true"}); err != nil || st != 200 {
		t.Fatalf("turn the guard on: %d %s %v", st, b, err)
	}
	return w
}

// assign assigns role to principal at "/" through the API as the dev
// principal and returns status and body.
func (w *sodWorld) assign(t *testing.T, role, principal string) (int, string) {
	t.Helper()
	st, b, err := w.s.Call(w.devTok, "PUT", w.base+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=7.6",
		assignmentBody(role, principal))
	if err != nil {
		t.Fatal(err)
	}
	return st, string(b)
}

func (w *sodWorld) group(t *testing.T, members ...string) string {
	t.Helper()
	ctx, dir, tid := context.Background(), w.s.App.Directory(), w.s.Dev.TenantID
	g, err := dir.CreateGroup(ctx, tid, directory.NewGroup{DisplayName: "g-" + uuid.NewString()[:8]})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if err := dir.AddMember(ctx, tid, g.ID, m); err != nil {
			t.Fatal(err)
		}
	}
	return g.ID
}

const ruleRoleAdminVsKeyUse = "role-administration-vs-key-use"

// TestSoDGuardOnRoleDefinitionChange is finding 14.2 (first half): the
// holder of a custom signing role may not be given role administration by
// editing that role, directly or when it holds the role through a group.
func TestSoDGuardOnRoleDefinitionChange(t *testing.T) {
	w := newSoDWorld(t)
	signer := uuid.NewString()
	if st, b := putCustomRole(t, w.s, w.devTok, "", signer, "signer", rbac.KeysSign); st != http.StatusCreated {
		t.Fatalf("create signer: %d %s", st, b)
	}
	direct, _ := spWithRole(t, w.s, "", "")
	if st, b := w.assign(t, signer, direct); st != http.StatusCreated {
		t.Fatalf("assign signer: %d %s", st, b)
	}
	// The refusal the guard already made: Policy Administrator for a signer.
	if st, b := w.assign(t, rbac.RolePolicyAdmin, direct); st != http.StatusBadRequest || !strings.Contains(b, ruleRoleAdminVsKeyUse) {
		t.Fatalf("Policy Administrator for a signer: %d %s", st, b)
	}
	// The bypass: edit the signer role to add role assignment writes.
	st, b := putCustomRole(t, w.s, w.devTok, "", signer, "signer", rbac.KeysSign, rbac.RoleAssignWrite)
	if st != http.StatusBadRequest || !strings.Contains(string(b), ruleRoleAdminVsKeyUse) {
		t.Errorf("editing a held role into signing + role administration: %d %s, want 400 naming the rule", st, b)
	}
	// Through a group: the member of a group holding a custom reader role
	// also signs directly; giving the reader role role-administration
	// would give the member both.
	reader := uuid.NewString()
	if st, b := putCustomRole(t, w.s, w.devTok, "", reader, "reader", rbac.KeysRead); st != http.StatusCreated {
		t.Fatalf("create reader: %d %s", st, b)
	}
	member, _ := spWithRole(t, w.s, "", "")
	if st, b := w.assign(t, signer, member); st != http.StatusCreated {
		t.Fatalf("assign signer: %d %s", st, b)
	}
	g := w.group(t, member)
	if st, b := w.assign(t, reader, g); st != http.StatusCreated {
		t.Fatalf("assign reader to the group: %d %s", st, b)
	}
	st, b = putCustomRole(t, w.s, w.devTok, "", reader, "reader", rbac.KeysRead, rbac.RoleDefWrite)
	if st != http.StatusBadRequest || !strings.Contains(string(b), ruleRoleAdminVsKeyUse) {
		t.Errorf("editing a group's role into role administration for a signing member: %d %s, want 400 naming the rule", st, b)
	}
	// A change that brings nothing together still passes.
	if st, b := putCustomRole(t, w.s, w.devTok, "", reader, "reader", rbac.KeysRead, rbac.KeysVerify); st != http.StatusCreated {
		t.Errorf("harmless edit: %d %s", st, b)
	}
	h, _ := w.s.App.HSMs().Get("dev")
	for _, oid := range []string{direct, member} {
		if d := h.Policy().Decide(rbac.Principal{ObjectID: oid, Groups: []string{g}}, rbac.RoleAssignWrite, "/"); d.Allowed {
			t.Errorf("%s holds roleAssignments/write after the refused edits", oid)
		}
	}
}

// TestSoDGuardOnGroups is finding 14.2 (second half): grants held through
// groups count, when a role is assigned and when a membership would bring
// two conflicting grants together (refused by Graph with the rule named).
func TestSoDGuardOnGroups(t *testing.T) {
	w := newSoDWorld(t)
	user, _ := spWithRole(t, w.s, "", "")
	signers := w.group(t, user)
	if st, b := w.assign(t, rbac.RoleCryptoUser, signers); st != http.StatusCreated {
		t.Fatalf("Crypto User for the group: %d %s", st, b)
	}
	// Role administration for a member of a signing group.
	if st, b := w.assign(t, rbac.RolePolicyAdmin, user); st != http.StatusBadRequest || !strings.Contains(b, ruleRoleAdminVsKeyUse) {
		t.Errorf("Policy Administrator for a member of a Crypto User group: %d %s, want 400 naming the rule", st, b)
	}
	// Role administration for a group whose nested member signs.
	outer := w.group(t, signers)
	if st, b := w.assign(t, rbac.RolePolicyAdmin, outer); st != http.StatusBadRequest || !strings.Contains(b, ruleRoleAdminVsKeyUse) {
		t.Errorf("Policy Administrator for a group holding a signing group: %d %s, want 400 naming the rule", st, b)
	}
	// A policy administrator joining the signing group through Graph.
	admin, _ := spWithRole(t, w.s, rbac.RolePolicyAdmin, "/")
	graphTok, err := w.s.Token(w.s.Dev.ClientID, w.s.Dev.ClientSecret, "graph")
	if err != nil {
		t.Fatal(err)
	}
	st, b, err := w.s.Call(graphTok, "POST", w.s.URL("graph")+"/v1.0/groups/"+signers+"/members/$ref",
		map[string]string{"@odata.id": w.s.URL("graph") + "/v1.0/directoryObjects/" + admin})
	if err != nil {
		t.Fatal(err)
	}
	if st != http.StatusBadRequest || !strings.Contains(string(b), "role-administration-vs-key-use") {
		t.Errorf("adding a Policy Administrator to a Crypto User group: %d %s, want 400 naming the rule", st, b)
	}
	// Nesting the administrator's group under the signing group likewise.
	admins := w.group(t, admin)
	if err := w.s.App.Directory().AddMember(context.Background(), w.s.Dev.TenantID, signers, admins); err == nil {
		t.Error("nesting a group of Policy Administrators in a Crypto User group was allowed")
	}
	// Unrelated memberships still work.
	bystander, _ := spWithRole(t, w.s, "", "")
	st, b, _ = w.s.Call(graphTok, "POST", w.s.URL("graph")+"/v1.0/groups/"+signers+"/members/$ref",
		map[string]string{"@odata.id": w.s.URL("graph") + "/v1.0/directoryObjects/" + bystander})
	if st != http.StatusNoContent {
		t.Errorf("adding a principal without roles: %d %s", st, b)
	}
}
