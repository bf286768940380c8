package hsm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// Limits of local RBAC, as Managed HSM documents them.
const (
	MaxAssignmentsHSMScope = 50
	MaxAssignmentsKeyScope = 10
	MaxCustomRoles         = 50
)

func raKey(hsm, id string) string { return "hsm/" + hsm + "/ra/" + strings.ToLower(id) }
func rdKey(hsm, id string) string { return "hsm/" + hsm + "/rd/" + strings.ToLower(id) }

func newGUID() string { return uuid.NewString() }

// newVersion returns a key version id: 32 lower-case hex digits.
func newVersion() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PrincipalResolver tells whether an object id names a principal of the
// tenant (user, group, service principal or managed identity).
type PrincipalResolver interface {
	PrincipalExists(ctx context.Context, tenantID, objectID string) (bool, error)
}

// Assign creates or replaces a role assignment after validating its scope,
// role and principal, and the documented limits; then it recompiles the
// HSM's policy. With the separation-of-duties guard on, an assignment that
// breaks a rule is refused.
func (s *Service) Assign(ctx context.Context, h *HSM, a rbac.RoleAssignment) (*rbac.RoleAssignment, error) {
	scope, err := rbac.CanonicalScope(a.Scope)
	if err != nil {
		return nil, badRequest("The scope %q is not valid: use /, /keys or /keys/{key name}.", a.Scope)
	}
	if _, err := uuid.Parse(a.ID); a.ID != "" && err != nil {
		return nil, badRequest("The role assignment name must be a GUID.")
	}
	if a.ID == "" {
		a.ID = newGUID()
	}
	if _, err := uuid.Parse(a.PrincipalID); err != nil {
		return nil, badRequest("principalId must be an object id (GUID).")
	}
	a.Scope, a.ID, a.PrincipalID = scope, strings.ToLower(a.ID), strings.ToLower(a.PrincipalID)
	a.RoleDefinitionID = strings.ToLower(roleGUID(a.RoleDefinitionID))
	if s.principals != nil {
		ok, err := s.principals.PrincipalExists(ctx, h.TenantID, a.PrincipalID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, badRequest("The principal %s does not exist in tenant %s.", a.PrincipalID, h.TenantID)
		}
	}
	var holders []holder // who the assignment reaches, for the guard (sod.go)
	prepare := func() error {
		on, err := s.guardOn(ctx, h)
		if err == nil && on {
			holders, err = s.holdersOf(ctx, h.TenantID, []string{a.PrincipalID})
		}
		return err
	}
	err = s.changeRoles(ctx, h, prepare, func(tx store.Tx) error {
		defs, err := roleDefinitions(tx, h.Name)
		if err != nil {
			return err
		}
		if !hasRole(defs, a.RoleDefinitionID) {
			return badRequest("The role definition %s does not exist.", a.RoleDefinitionID)
		}
		existing, err := assignments(tx, h.Name)
		if err != nil {
			return err
		}
		n := 0
		for _, e := range existing {
			if e.ID == a.ID {
				if e.Scope != a.Scope || e.PrincipalID != a.PrincipalID || e.RoleDefinitionID != a.RoleDefinitionID {
					return conflict("The role assignment %s already exists with other properties; assignments cannot be changed.", a.ID)
				}
				return nil // idempotent PUT
			}
			if e.Scope == a.Scope && e.PrincipalID == a.PrincipalID && e.RoleDefinitionID == a.RoleDefinitionID {
				return conflict("The role assignment already exists (%s).", e.ID)
			}
			if e.Scope == a.Scope {
				n++
			}
		}
		limit := MaxAssignmentsHSMScope
		if a.Scope != rbac.HSMScope && a.Scope != rbac.KeysScope {
			limit = MaxAssignmentsKeyScope
		}
		if n >= limit {
			return badRequest("The scope %s already has the maximum of %d role assignments.", a.Scope, limit)
		}
		if on, err := sodGuardOn(tx, h.Name); err != nil {
			return err
		} else if on {
			if holders == nil { // the guard was turned on meanwhile
				holders = []holder{{id: a.PrincipalID}}
			}
			if err := checkSeparationOfDuties(defs, append(existing, a), holders, "The assignment"); err != nil {
				return err
			}
		}
		return putJSON(tx, raKey(h.Name, a.ID), &a)
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// GetAssignment returns one assignment by name.
func (s *Service) GetAssignment(ctx context.Context, h *HSM, id string) (*rbac.RoleAssignment, error) {
	var a rbac.RoleAssignment
	err := s.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, raKey(h.Name, id), &a) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("RoleAssignmentNotFound", "Requested role assignment not found")
	}
	return &a, err
}

// DeleteAssignment removes an assignment and returns it.
func (s *Service) DeleteAssignment(ctx context.Context, h *HSM, id string) (*rbac.RoleAssignment, error) {
	var a rbac.RoleAssignment
	err := s.changeRoles(ctx, h, nil, func(tx store.Tx) error {
		if err := getJSON(tx, raKey(h.Name, id), &a); err != nil {
			return err
		}
		return tx.Delete(raKey(h.Name, id))
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("RoleAssignmentNotFound", "Requested role assignment not found")
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// Assignments returns every role assignment of h.
func (s *Service) Assignments(ctx context.Context, h *HSM) ([]rbac.RoleAssignment, error) {
	var out []rbac.RoleAssignment
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = assignments(tx, h.Name)
		return err
	})
	return out, err
}

// RoleDefinitions returns the built-in roles followed by h's custom roles.
func (s *Service) RoleDefinitions(ctx context.Context, h *HSM) ([]rbac.RoleDefinition, error) {
	var out []rbac.RoleDefinition
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = roleDefinitions(tx, h.Name)
		return err
	})
	return out, err
}

func assignments(tx store.Tx, hsm string) ([]rbac.RoleAssignment, error) {
	kvs, err := tx.List("hsm/"+hsm+"/ra/", "", 0)
	if err != nil {
		return nil, err
	}
	out := make([]rbac.RoleAssignment, 0, len(kvs))
	for _, kv := range kvs {
		var a rbac.RoleAssignment
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func roleDefinitions(tx store.Tx, hsm string) ([]rbac.RoleDefinition, error) {
	out := append([]rbac.RoleDefinition(nil), rbac.BuiltinRoles...)
	kvs, err := tx.List("hsm/"+hsm+"/rd/", "", 0)
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		var d rbac.RoleDefinition
		if err := json.Unmarshal(kv.Value, &d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func hasRole(defs []rbac.RoleDefinition, id string) bool {
	for _, d := range defs {
		if strings.EqualFold(d.ID, id) {
			return true
		}
	}
	return false
}

// roleGUID strips the "Microsoft.KeyVault/providers/Microsoft.Authorization/
// roleDefinitions/" prefix clients send.
func roleGUID(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}
