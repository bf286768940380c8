package rbac_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// Regression tests for the security review of issue #14 (findings 1, 2 and
// 5), each through the real HTTPS server. docs/security-rbac.md explains
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
