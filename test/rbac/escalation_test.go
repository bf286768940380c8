package rbac_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// spWithRole makes a service principal holding role at scope and returns
// its object id and data-plane token.
func spWithRole(t *testing.T, s *testserver.Server, role, scope string) (string, string) {
	t.Helper()
	ctx := context.Background()
	dir := s.App.Directory()
	sp, err := dir.CreateServicePrincipal(ctx, s.Dev.TenantID, "esc-"+uuid.NewString()[:8])
	if err != nil {
		t.Fatal(err)
	}
	secret, err := dir.AddSecret(ctx, s.Dev.TenantID, sp.AppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if role != "" {
		h, _ := s.App.HSMs().Get("dev")
		if _, err := s.App.HSMs().Assign(ctx, h, rbac.RoleAssignment{Scope: scope, RoleDefinitionID: role, PrincipalID: sp.ObjectID}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := s.Token(sp.AppID, secret, "managedhsm")
	if err != nil {
		t.Fatal(err)
	}
	return sp.ObjectID, tok
}

func assignmentBody(role, principal string) wire.RoleAssignmentCreateParameters {
	return wire.RoleAssignmentCreateParameters{Properties: wire.RoleAssignmentProperties{
		RoleDefinitionID: "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + role, PrincipalID: principal}}
}

// TestPrivilegeEscalation: granting yourself a stronger role, granting at
// a wider scope than you administer, or smuggling actions through a custom
// role all fail unless the caller holds roleAssignments/write there.
func TestPrivilegeEscalation(t *testing.T) {
	s := testserver.Start(t, nil)
	base := s.HSMURL("dev")
	put := func(tok, scope string, body any) int {
		prefix := ""
		if scope != "/" {
			prefix = scope
		}
		st, _, err := s.Call(tok, "PUT", base+prefix+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(), body)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	userOID, userTok := spWithRole(t, s, rbac.RoleCryptoUser, "/")
	if st := put(userTok, "/", assignmentBody(rbac.RoleAdministrator, userOID)); st != http.StatusForbidden {
		t.Errorf("Crypto User granting itself Administrator: %d", st)
	}
	keyAdminOID, keyAdminTok := spWithRole(t, s, rbac.RolePolicyAdmin, "/keys/k1")
	if st := put(keyAdminTok, "/keys/k1", assignmentBody(rbac.RoleCryptoUser, keyAdminOID)); st != http.StatusCreated {
		t.Errorf("Policy Administrator at /keys/k1 assigning at /keys/k1: %d", st)
	}
	for _, wider := range []string{"/", "/keys", "/keys/k2", "/keys/k1a"} {
		if st := put(keyAdminTok, wider, assignmentBody(rbac.RoleCryptoUser, keyAdminOID)); st != http.StatusForbidden {
			t.Errorf("Policy Administrator at /keys/k1 assigning at %s: %d", wider, st)
		}
	}
	// A role-definition writer without assignment rights: may define a role,
	// may not assign it; a role with unknown actions is refused outright.
	defOID, defTok := spWithRole(t, s, "", "")
	custom := uuid.NewString()
	h, _ := s.App.HSMs().Get("dev")
	if _, err := s.App.HSMs().PutRoleDefinition(context.Background(), h, rbac.RoleDefinition{ID: custom, RoleName: "definer",
		Permissions: []rbac.Permission{{DataActions: []string{string(rbac.RoleDefWrite)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.App.HSMs().Assign(context.Background(), h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: custom, PrincipalID: defOID}); err != nil {
		t.Fatal(err)
	}
	allPowerful := uuid.NewString()
	var acts []string
	for _, a := range rbac.AllActions {
		if !rbac.SecurityDomainAction(string(a)) { // refused in custom roles (sdfinding_test.go)
			acts = append(acts, string(a))
		}
	}
	st, _, _ := s.Call(defTok, "PUT", base+"/providers/Microsoft.Authorization/roleDefinitions/"+allPowerful, wire.RoleDefinitionCreateParameters{
		Properties: wire.RoleDefinitionProperties{RoleName: "everything", Permissions: []rbac.Permission{{DataActions: acts}}}})
	if st != http.StatusCreated {
		t.Fatalf("definition writer creating a role: %d", st)
	}
	if st := put(defTok, "/", assignmentBody(allPowerful, defOID)); st != http.StatusForbidden {
		t.Errorf("definition writer assigning its own all-powerful role: %d", st)
	}
	st, _, _ = s.Call(defTok, "PUT", base+"/providers/Microsoft.Authorization/roleDefinitions/"+uuid.NewString(), wire.RoleDefinitionCreateParameters{
		Properties: wire.RoleDefinitionProperties{RoleName: "sneaky", Permissions: []rbac.Permission{{DataActions: []string{"Microsoft.KeyVault/managedHsm/*"}}}}})
	if st != http.StatusBadRequest {
		t.Errorf("a custom role with a wildcard / unknown action: %d", st)
	}
	// Assignments to unknown principals or roles are refused clearly.
	_, adminTok := spWithRole(t, s, rbac.RoleAdministrator, "/")
	if st := put(adminTok, "/", assignmentBody(rbac.RoleCryptoUser, uuid.NewString())); st != http.StatusBadRequest {
		t.Errorf("assignment to an unknown principal: %d", st)
	}
	if st := put(adminTok, "/", assignmentBody(uuid.NewString(), userOID)); st != http.StatusBadRequest {
		t.Errorf("assignment of an unknown role: %d", st)
	}
}
