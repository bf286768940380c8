package rbac_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// TestKeysScopeIsItsOwn: "/keys" is a scope of its own (reference
// managed-hsm.md §9), through the local RBAC API as Python's
// KeyVaultAccessControlClient uses it: the same role for the same principal
// at "/" and at "/keys" are two assignments (no 409), each reports the scope
// it was made at, listing without a filter shows only the scope's own,
// atScope() at a key shows both, and a grant at "/keys" reaches every key
// and the key list but not the HSM-wide operations.
func TestKeysScopeIsItsOwn(t *testing.T) {
	s := testserver.Start(t, func(c *config.Server) { c.ThrottleHSMRate, c.ThrottlePrincipalRate = 0, 0 })
	admin, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	base := s.HSMURL("dev")
	const v = "?api-version=7.4"
	oid, tok := spWithRole(t, s, "", "")
	put := func(prefix string) wire.RoleAssignment {
		t.Helper()
		st, b, err := s.Call(admin, "PUT", base+prefix+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+v,
			assignmentBody(rbac.RoleCryptoUser, oid))
		if err != nil || st != http.StatusCreated {
			t.Fatalf("assign at %q: %d %s %v", prefix, st, b, err)
		}
		var a wire.RoleAssignment
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	list := func(prefix, filter string) map[string]string {
		t.Helper()
		st, b, err := s.Call(admin, "GET", base+prefix+"/providers/Microsoft.Authorization/roleAssignments"+v+filter, nil)
		if err != nil || st != http.StatusOK {
			t.Fatalf("list at %q: %d %s %v", prefix, st, b, err)
		}
		var l wire.List[wire.RoleAssignment]
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, a := range l.Value {
			out[a.Name] = a.Properties.Scope
		}
		return out
	}
	atKeys := put("/keys")
	if atKeys.Properties.Scope != "/keys" || atKeys.ID != "/keys/providers/Microsoft.Authorization/roleAssignments/"+atKeys.Name {
		t.Fatalf("assignment at /keys: %+v", atKeys)
	}
	// A grant at /keys reaches keys and the key list, not HSM-wide reads.
	if st, b, _ := s.Call(tok, "POST", base+"/keys/k1/create"+v, map[string]any{"kty": "EC-HSM", "crv": "P-256"}); st != http.StatusOK {
		t.Fatalf("create a key with a /keys grant: %d %s", st, b)
	}
	if st, b, _ := s.Call(tok, "GET", base+"/keys"+v, nil); st != http.StatusOK {
		t.Fatalf("list keys with a /keys grant: %d %s", st, b)
	}
	if st, _, _ := s.Call(tok, "POST", base+"/rng"+v, map[string]any{"count": 8}); st != http.StatusForbidden {
		t.Fatalf("rng (an HSM-wide action) with a /keys grant only: %d, want 403", st)
	}
	atRoot := put("")
	if atRoot.Properties.Scope != "/" {
		t.Fatalf("assignment at /: %+v", atRoot)
	}
	if got := list("/keys", ""); got[atKeys.Name] != "/keys" || got[atRoot.Name] != "" {
		t.Fatalf("list at /keys: %v", got)
	}
	if got := list("", ""); got[atRoot.Name] != "/" || got[atKeys.Name] != "" {
		t.Fatalf("list at /: %v", got)
	}
	if got := list("/keys/k1", "&$filter=atScope()"); got[atRoot.Name] != "/" || got[atKeys.Name] != "/keys" {
		t.Fatalf("atScope() at /keys/k1: %v", got)
	}
	if got := list("", "&$filter=atScope()"); got[atKeys.Name] != "" {
		t.Fatalf("atScope() at / lists the /keys assignment: %v", got)
	}
	// Removing the /keys one leaves the / one in force, and vice versa.
	if st, b, _ := s.Call(admin, "DELETE", base+"/keys/providers/Microsoft.Authorization/roleAssignments/"+atKeys.Name+v, nil); st != http.StatusOK {
		t.Fatalf("delete at /keys: %d %s", st, b)
	}
	if st, _, _ := s.Call(tok, "POST", base+"/rng"+v, map[string]any{"count": 8}); st != http.StatusOK {
		t.Fatalf("rng with the / grant: %d", st)
	}
}
