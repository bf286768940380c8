package mgmt

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

func wireRole(scope armrbac.Scope, d armrbac.RoleDefinition, c *customRole) wire.ARMRoleDefinition {
	perms := d.Permissions
	if perms == nil {
		perms = []armrbac.Permission{}
	}
	w := wire.ARMRoleDefinition{ID: RoleDefinitionID(scope, d.ID), Name: d.ID, Type: RoleDefinitionType, Properties: wire.ARMRoleDefinitionProperties{
		RoleName: d.RoleName, Description: d.Description, Type: d.RoleType, Permissions: perms, AssignableScopes: d.AssignableScopes}}
	if c != nil {
		created, updated := c.CreatedOn, c.UpdatedOn
		w.Properties.CreatedOn, w.Properties.UpdatedOn, w.Properties.CreatedBy, w.Properties.UpdatedBy = &created, &updated, c.CreatedBy, c.UpdatedBy
	}
	return w
}

// visibleAt reports whether custom role c can be seen from scope: one of
// its assignable scopes contains scope or lies within it, in the tenant.
func (c *customRole) visibleAt(scope armrbac.Scope, tid string) bool {
	if !strings.EqualFold(c.TenantID, tid) {
		return false
	}
	for _, as := range c.AssignableScopes {
		p, err := armrbac.ParseScope(as)
		if err == nil && (p.Contains(scope) || scope.Contains(p)) {
			return true
		}
	}
	return false
}

func rdNotFound(id string) error {
	return notFound("RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", id)
}

// RoleDefinition returns role id (a GUID) as seen from scope by a caller of
// tenant tid: built-in roles everywhere, custom roles where visible.
func (s *Service) RoleDefinition(ctx context.Context, scope armrbac.Scope, tid, id string) (*wire.ARMRoleDefinition, error) {
	if d, ok := armrbac.Builtin(id); ok {
		w := wireRole(scope, d, nil)
		return &w, nil
	}
	var c customRole
	err := s.st.View(ctx, func(tx store.Tx) error { return store.GetJSON(tx, rdKey(id), &c) })
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.visibleAt(scope, tid)) {
		return nil, rdNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	w := wireRole(scope, c.RoleDefinition, &c)
	return &w, nil
}

// RoleDefinitionFilter is the $filter of a role definition list.
type RoleDefinitionFilter struct {
	RoleName string // roleName eq '…' (case-insensitive)
	Type     string // type eq 'BuiltInRole' | 'CustomRole'
}

// RoleDefinitions lists the roles visible from scope for tenant tid.
func (s *Service) RoleDefinitions(ctx context.Context, scope armrbac.Scope, tid string, f RoleDefinitionFilter) ([]wire.ARMRoleDefinition, error) {
	var rs []customRole
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		_, rs, err = loadRoles(tx)
		return err
	}); err != nil {
		return nil, err
	}
	keep := func(d armrbac.RoleDefinition) bool {
		return (f.RoleName == "" || strings.EqualFold(d.RoleName, f.RoleName)) && (f.Type == "" || strings.EqualFold(d.RoleType, f.Type))
	}
	out := []wire.ARMRoleDefinition{}
	for _, d := range armrbac.BuiltinRoles {
		if keep(d) {
			out = append(out, wireRole(scope, d, nil))
		}
	}
	for i := range rs {
		if rs[i].visibleAt(scope, tid) && keep(rs[i].RoleDefinition) {
			out = append(out, wireRole(scope, rs[i].RoleDefinition, &rs[i]))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Properties.RoleName < out[j].Properties.RoleName })
	return out, nil
}

// RoleDefinitionScopes returns the assignable scopes of custom role id
// (none for an unknown or built-in role): changing or deleting it needs
// roleDefinitions write or delete at each of them.
func (s *Service) RoleDefinitionScopes(ctx context.Context, id string) ([]string, error) {
	var c customRole
	err := s.st.View(ctx, func(tx store.Tx) error { return store.GetJSON(tx, rdKey(id), &c) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return c.AssignableScopes, err
}

// PutRoleDefinition creates or replaces custom role id for tenant tid.
// Its assignable scopes must be subscriptions of the tenant, or resource
// groups or HSMs in them.
func (s *Service) PutRoleDefinition(ctx context.Context, by Caller, scope armrbac.Scope, tid, id string, in wire.ARMRoleDefinitionProperties) (*wire.ARMRoleDefinition, error) {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return nil, badRequest("InvalidRoleDefinitionId", "The role definition ID '%s' is not valid; it must be a GUID.", id)
	}
	id = u.String()
	if _, ok := armrbac.Builtin(id); ok {
		return nil, badRequest("RoleDefinitionBuiltIn", "Built-in role definitions cannot be changed.")
	}
	if in.Type != "" && !strings.EqualFold(in.Type, armrbac.TypeCustom) {
		return nil, badRequest("InvalidRoleDefinitionType", "Only CustomRole definitions can be created.")
	}
	name := strings.TrimSpace(in.RoleName)
	if name == "" || len(name) > 512 {
		return nil, badRequest("InvalidRoleDefinitionName", "roleName is required (at most 512 characters).")
	}
	if len(in.Permissions) == 0 {
		return nil, badRequest("InvalidPermissions", "A role definition needs at least one permission block.")
	}
	for _, p := range in.Permissions {
		for _, a := range append(append([]string{}, p.Actions...), p.NotActions...) {
			if !armrbac.ValidPattern(a) {
				return nil, badRequest("InvalidActionOrNotAction", "'%s' is not a valid action.", a)
			}
		}
	}
	if len(in.AssignableScopes) == 0 {
		return nil, badRequest("InvalidAssignableScopes", "assignableScopes must name at least one scope.")
	}
	var scopes []string
	for _, as := range in.AssignableScopes {
		p, err := armrbac.ParseScope(as)
		if err != nil || p.Level() == armrbac.LevelRoot {
			return nil, badRequest("InvalidAssignableScopes", "The assignable scope '%s' is not a subscription, resource group or resource.", as)
		}
		sub, err := s.Subscription(ctx, p.Subscription)
		if err != nil || !strings.EqualFold(sub.TenantID, tid) {
			return nil, badRequest("InvalidAssignableScopes", "The assignable scope '%s' is not in a subscription of this tenant.", as)
		}
		scopes = append(scopes, p.String())
	}
	now := s.o.Now().UTC()
	c := &customRole{RoleDefinition: armrbac.RoleDefinition{ID: id, RoleName: name, Description: in.Description, RoleType: armrbac.TypeCustom,
		Permissions: in.Permissions, AssignableScopes: scopes}, TenantID: strings.ToLower(tid), CreatedOn: now, UpdatedOn: now, CreatedBy: by.ObjectID, UpdatedBy: by.ObjectID}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.st.Update(ctx, func(tx store.Tx) error {
		_, rs, err := loadRoles(tx)
		if err != nil {
			return err
		}
		for _, d := range armrbac.BuiltinRoles {
			if strings.EqualFold(d.RoleName, name) {
				return conflict("RoleDefinitionWithSameNameExists", "A role definition cannot be updated with a name that already exists.")
			}
		}
		for _, r := range rs {
			if strings.EqualFold(r.ID, id) {
				if !strings.EqualFold(r.TenantID, tid) {
					return conflict("RoleDefinitionExists", "The role definition ID '%s' is in use.", id)
				}
				c.CreatedOn, c.CreatedBy = r.CreatedOn, r.CreatedBy
				continue
			}
			if strings.EqualFold(r.TenantID, tid) && strings.EqualFold(r.RoleName, name) {
				return conflict("RoleDefinitionWithSameNameExists", "A role definition cannot be updated with a name that already exists.")
			}
		}
		if len(rs) >= MaxCustomRoles {
			return badRequest("RoleDefinitionLimitExceeded", "No more custom role definitions can be created.")
		}
		return store.PutJSON(tx, rdKey(id), c)
	})
	if err != nil {
		return nil, err
	}
	if err := s.recompile(ctx); err != nil {
		return nil, err
	}
	w := wireRole(scope, c.RoleDefinition, c)
	return &w, nil
}

// DeleteRoleDefinition deletes custom role id and returns it (nil when
// there was none). A role still assigned cannot be deleted.
func (s *Service) DeleteRoleDefinition(ctx context.Context, scope armrbac.Scope, tid, id string) (*wire.ARMRoleDefinition, error) {
	if _, ok := armrbac.Builtin(id); ok {
		return nil, badRequest("RoleDefinitionBuiltIn", "Built-in role definitions cannot be deleted.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out *wire.ARMRoleDefinition
	err := s.st.Update(ctx, func(tx store.Tx) error {
		as, _, err := loadRoles(tx)
		if err != nil {
			return err
		}
		var c customRole
		if err := store.GetJSON(tx, rdKey(id), &c); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		if !strings.EqualFold(c.TenantID, tid) {
			return nil
		}
		for _, a := range as {
			if strings.EqualFold(a.RoleDefinitionID, c.ID) {
				return conflict("RoleDefinitionHasAssignments", "There are existing role assignments referencing role (code: RoleDefinitionHasAssignments).")
			}
		}
		w := wireRole(scope, c.RoleDefinition, &c)
		out = &w
		return tx.Delete(rdKey(id))
	})
	if err != nil || out == nil {
		return out, err
	}
	return out, s.recompile(ctx)
}
