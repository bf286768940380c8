package hsm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
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

// Assign stores a role assignment and recompiles the policy.
func (s *Service) Assign(ctx context.Context, h *HSM, a rbac.RoleAssignment) error {
	scope, err := rbac.CanonicalScope(a.Scope)
	if err != nil {
		return badRequest("invalid scope %q", a.Scope)
	}
	a.Scope = scope
	a.PrincipalID = strings.ToLower(a.PrincipalID)
	if a.ID == "" {
		a.ID = newGUID()
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return putJSON(tx, raKey(h.Name, a.ID), &a) }); err != nil {
		return err
	}
	return s.reloadPolicy(ctx, h)
}

// Assignments returns every role assignment of h.
func (s *Service) Assignments(ctx context.Context, h *HSM) ([]rbac.RoleAssignment, error) {
	var out []rbac.RoleAssignment
	err := s.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("hsm/"+h.Name+"/ra/", "", 0)
		if err != nil {
			return err
		}
		out = make([]rbac.RoleAssignment, 0, len(kvs))
		for _, kv := range kvs {
			var a rbac.RoleAssignment
			if err := json.Unmarshal(kv.Value, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// RoleDefinitions returns the built-in roles followed by h's custom roles.
func (s *Service) RoleDefinitions(ctx context.Context, h *HSM) ([]rbac.RoleDefinition, error) {
	out := append([]rbac.RoleDefinition(nil), rbac.BuiltinRoles...)
	err := s.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("hsm/"+h.Name+"/rd/", "", 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var d rbac.RoleDefinition
			if err := json.Unmarshal(kv.Value, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// reloadPolicy recompiles h's policy from the store.
func (s *Service) reloadPolicy(ctx context.Context, h *HSM) error {
	defs, err := s.RoleDefinitions(ctx, h)
	if err != nil {
		return err
	}
	as, err := s.Assignments(ctx, h)
	if err != nil {
		return err
	}
	h.policy.Store(rbac.Compile(defs, as))
	return nil
}
