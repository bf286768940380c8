package hsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// GetRoleDefinition returns a built-in or custom role by GUID.
func (s *Service) GetRoleDefinition(ctx context.Context, h *HSM, id string) (*rbac.RoleDefinition, error) {
	defs, err := s.RoleDefinitions(ctx, h)
	if err != nil {
		return nil, err
	}
	for _, d := range defs {
		if strings.EqualFold(d.ID, id) {
			return &d, nil
		}
	}
	return nil, notFound("RoleDefinitionNotFound", "Requested role definition not found")
}

// PutRoleDefinition creates or updates a custom role. Data actions must be
// known; the only assignable scope is "/"; built-in roles cannot be changed;
// role names are unique.
func (s *Service) PutRoleDefinition(ctx context.Context, h *HSM, d rbac.RoleDefinition) (*rbac.RoleDefinition, error) {
	if _, err := uuid.Parse(d.ID); err != nil {
		return nil, badRequest("The role definition name must be a GUID.")
	}
	d.ID = strings.ToLower(d.ID)
	if _, ok := rbac.Builtin(d.ID); ok {
		return nil, badRequest("Built-in role definitions cannot be changed.")
	}
	if d.Type != "" && d.Type != rbac.TypeCustom {
		return nil, badRequest("The role type must be CustomRole.")
	}
	d.Type = rbac.TypeCustom
	if d.RoleName == "" {
		d.RoleName = d.ID
	}
	if len(d.RoleName) > 256 || len(d.Description) > 2048 {
		return nil, badRequest("roleName is limited to 256 characters and description to 2048.")
	}
	if len(d.AssignableScopes) == 0 {
		d.AssignableScopes = []string{"/"}
	}
	for _, sc := range d.AssignableScopes {
		if sc != "/" {
			return nil, badRequest("Managed HSM only supports '/' as the assignable scope of a role definition.")
		}
	}
	if d.Permissions == nil {
		d.Permissions = []rbac.Permission{}
	}
	for i, p := range d.Permissions {
		if len(p.Actions) > 0 || len(p.NotActions) > 0 {
			return nil, badRequest("Custom roles of a managed HSM take dataActions and notDataActions only.")
		}
		for _, a := range append(append([]string(nil), p.DataActions...), p.NotDataActions...) {
			if !rbac.Known(a) {
				return nil, badRequest("The data action %q is not a Managed HSM data action.", a)
			}
		}
		for _, a := range p.DataActions {
			if rbac.SecurityDomainAction(a) {
				return nil, &Error{Kind: KindBadRequest, Code: "SecurityDomainActionNotAllowed", Message: fmt.Sprintf(
					"Custom roles cannot grant security domain actions (%s): the security domain is the HSM's key hierarchy root. Use the built-in Managed HSM Administrator role.", a)}
			}
		}
		d.Permissions[i] = rbac.Permission{Actions: []string{}, NotActions: []string{},
			DataActions: nonNil(p.DataActions), NotDataActions: nonNil(p.NotDataActions)}
	}
	var holders []holder // every holder of the role, for the guard (sod.go)
	prepare := func() error {
		on, err := s.guardOn(ctx, h)
		if err == nil && on {
			holders, err = s.holdersOfRole(ctx, h, d.ID)
		}
		return err
	}
	err := s.changeRoles(ctx, h, prepare, func(tx store.Tx) error {
		defs, err := roleDefinitions(tx, h.Name)
		if err != nil {
			return err
		}
		custom := 0
		exists := false
		for _, e := range defs {
			if e.Type != rbac.TypeCustom {
				if strings.EqualFold(e.RoleName, d.RoleName) {
					return conflict("A role named %q already exists.", d.RoleName)
				}
				continue
			}
			if e.ID == d.ID {
				exists = true
				continue
			}
			custom++
			if strings.EqualFold(e.RoleName, d.RoleName) {
				return conflict("A role named %q already exists.", d.RoleName)
			}
		}
		if !exists && custom >= MaxCustomRoles {
			return badRequest("This HSM already has the maximum of %d custom role definitions.", MaxCustomRoles)
		}
		if holders != nil {
			as, err := assignments(tx, h.Name)
			if err != nil {
				return err
			}
			next := slices.DeleteFunc(defs, func(e rbac.RoleDefinition) bool { return e.ID == d.ID })
			if err := checkSeparationOfDuties(append(next, d), as, holders, "The role definition change"); err != nil {
				return err
			}
		}
		return putJSON(tx, rdKey(h.Name, d.ID), &d)
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// DeleteRoleDefinition deletes a custom role; its assignments become
// defunct (they grant nothing) until deleted.
func (s *Service) DeleteRoleDefinition(ctx context.Context, h *HSM, id string) (*rbac.RoleDefinition, error) {
	if _, ok := rbac.Builtin(strings.ToLower(id)); ok {
		return nil, badRequest("Built-in role definitions cannot be deleted.")
	}
	var d rbac.RoleDefinition
	err := s.changeRoles(ctx, h, nil, func(tx store.Tx) error {
		if err := getJSON(tx, rdKey(h.Name, id), &d); err != nil {
			return err
		}
		return tx.Delete(rdKey(h.Name, id))
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("RoleDefinitionNotFound", "Requested role definition not found")
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
