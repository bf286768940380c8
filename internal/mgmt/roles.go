package mgmt

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Management role assignments and custom role definitions. Every change
// recompiles the policy (armrbac.Compile) and swaps it in atomically.

// Limits, as Azure documents them.
const (
	MaxAssignmentsPerSubscription = 4000
	MaxCustomRoles                = 5000
)

// Resource types of the authorization provider.
const (
	RoleAssignmentType = "Microsoft.Authorization/roleAssignments"
	RoleDefinitionType = "Microsoft.Authorization/roleDefinitions"
)

type assignmentRecord struct {
	armrbac.Assignment
	TenantID    string    `json:"tenantId"`
	Description string    `json:"description,omitempty"`
	CreatedOn   time.Time `json:"createdOn"`
	UpdatedOn   time.Time `json:"updatedOn"`
	CreatedBy   string    `json:"createdBy,omitempty"`
	UpdatedBy   string    `json:"updatedBy,omitempty"`
}

type customRole struct {
	armrbac.RoleDefinition
	TenantID  string    `json:"tenantId"`
	CreatedOn time.Time `json:"createdOn"`
	UpdatedOn time.Time `json:"updatedOn"`
	CreatedBy string    `json:"createdBy,omitempty"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
}

func loadRoles(tx store.Tx) ([]assignmentRecord, []customRole, error) {
	as, err := store.ListJSON[assignmentRecord](tx, "mgmt/ra/")
	if err != nil {
		return nil, nil, err
	}
	rs, err := store.ListJSON[customRole](tx, "mgmt/rd/")
	return as, rs, err
}

func allDefinitions(custom []customRole) []armrbac.RoleDefinition {
	defs := append([]armrbac.RoleDefinition{}, armrbac.BuiltinRoles...)
	for _, c := range custom {
		defs = append(defs, c.RoleDefinition)
	}
	return defs
}

// recompile rebuilds the policy from the store. Callers hold s.mu (or run
// before the Service is shared).
func (s *Service) recompile(ctx context.Context) error {
	var as []assignmentRecord
	var rs []customRole
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		as, rs, err = loadRoles(tx)
		return err
	}); err != nil {
		return err
	}
	plain := make([]armrbac.Assignment, len(as))
	for i := range as {
		plain[i] = as[i].Assignment
	}
	s.policy.Store(armrbac.Compile(allDefinitions(rs), plain))
	return nil
}

// RoleDefinitionID is the resource id of role guid as seen from scope.
func RoleDefinitionID(scope armrbac.Scope, guid string) string {
	if scope.Subscription == "" {
		return "/providers/Microsoft.Authorization/roleDefinitions/" + guid
	}
	return "/subscriptions/" + scope.Subscription + "/providers/Microsoft.Authorization/roleDefinitions/" + guid
}

// roleGUID extracts the GUID from a role definition id, full or bare.
func roleGUID(id string) (string, bool) {
	if i := strings.LastIndex(strings.ToLower(id), "/roledefinitions/"); i >= 0 {
		prefix := strings.ToLower(id[:i])
		if prefix != "/providers/microsoft.authorization" && !(strings.HasPrefix(prefix, "/subscriptions/") && strings.HasSuffix(prefix, "/providers/microsoft.authorization")) {
			return "", false
		}
		id = id[i+len("/roledefinitions/"):]
	}
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", false
	}
	return u.String(), true
}

func (a *assignmentRecord) wire() wire.ARMRoleAssignment {
	sc, _ := armrbac.ParseScope(a.Scope)
	created, updated := a.CreatedOn, a.UpdatedOn
	return wire.ARMRoleAssignment{ID: a.ID(), Name: a.Name, Type: RoleAssignmentType, Properties: wire.ARMRoleAssignmentProperties{
		Scope: a.Scope, RoleDefinitionID: RoleDefinitionID(sc, a.RoleDefinitionID), PrincipalID: a.PrincipalID, PrincipalType: a.PrincipalType,
		Description: a.Description, CreatedOn: &created, UpdatedOn: &updated, CreatedBy: a.CreatedBy, UpdatedBy: a.UpdatedBy}}
}

// checkScopeExists requires the subscription, resource group or HSM that
// scope names to exist (a resource scope must be a live HSM).
func (s *Service) checkScopeExists(ctx context.Context, scope armrbac.Scope) (*Subscription, error) {
	if scope.Level() == armrbac.LevelRoot {
		return nil, badRequest("InvalidScope", "Role assignments at the root scope '/' are not supported; assign at a subscription, resource group or resource.")
	}
	sub, err := s.Subscription(ctx, scope.Subscription)
	if err != nil {
		return nil, err
	}
	if scope.ResourceGroup == "" && scope.Level() == armrbac.LevelResource {
		return nil, badRequest("InvalidScope", "The scope '%s' is not a subscription, resource group or managed HSM.", scope.String())
	}
	if scope.ResourceGroup != "" {
		if _, err := s.ResourceGroup(ctx, sub.ID, scope.ResourceGroup); err != nil {
			return nil, err
		}
	}
	if scope.Level() == armrbac.LevelResource {
		name, ok := scope.HSM()
		if !ok {
			return nil, badRequest("InvalidScope", "The scope '%s' is not a subscription, resource group or managed HSM.", scope.String())
		}
		if _, err := s.GetHSM(ctx, sub.ID, scope.ResourceGroup, name); err != nil {
			return nil, err
		}
	}
	return sub, nil
}

// Assign creates an assignment with a fresh name (the Go API used by dev
// mode, subscription creation and tests).
func (s *Service) Assign(ctx context.Context, scope armrbac.Scope, roleID, principalID string) (*wire.ARMRoleAssignment, error) {
	out, _, err := s.PutAssignment(ctx, Caller{}, scope, uuid.NewString(), wire.ARMRoleAssignmentProperties{RoleDefinitionID: roleID, PrincipalID: principalID})
	return out, err
}

// PutAssignment creates assignment name at scope. Re-creating an identical
// assignment under the same name returns it; anything else that exists is
// a conflict, as in Azure.
func (s *Service) PutAssignment(ctx context.Context, by Caller, scope armrbac.Scope, name string, in wire.ARMRoleAssignmentProperties) (out *wire.ARMRoleAssignment, created bool, err error) {
	u, err := uuid.Parse(name)
	if err != nil || len(name) != 36 {
		return nil, false, badRequest("InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", name)
	}
	name = u.String()
	if in.Condition != "" || in.ConditionVersion != "" {
		return nil, false, badRequest("InvalidRoleAssignmentRequest", "Role assignment conditions are not supported by mhsm.")
	}
	roleID, ok := roleGUID(in.RoleDefinitionID)
	if !ok {
		return nil, false, badRequest("InvalidRoleDefinitionId", "The role definition ID '%s' is not valid.", in.RoleDefinitionID)
	}
	pid, err := uuid.Parse(in.PrincipalID)
	if err != nil {
		return nil, false, badRequest("InvalidPrincipalId", "A valid principal ID must be provided for role assignment.")
	}
	sub, err := s.checkScopeExists(ctx, scope)
	if err != nil {
		return nil, false, err
	}
	ptype, err := s.principalType(ctx, sub.TenantID, pid.String(), in.PrincipalType)
	if err != nil {
		return nil, false, err
	}
	now := s.o.Now().UTC()
	rec := &assignmentRecord{Assignment: armrbac.Assignment{Name: name, Scope: scope.String(), RoleDefinitionID: roleID, PrincipalID: pid.String(), PrincipalType: ptype},
		TenantID: sub.TenantID, Description: in.Description, CreatedOn: now, UpdatedOn: now, CreatedBy: by.ObjectID, UpdatedBy: by.ObjectID}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.st.Update(ctx, func(tx store.Tx) error {
		as, rs, err := loadRoles(tx)
		if err != nil {
			return err
		}
		def, ok := findRole(allDefinitions(rs), roleID)
		if !ok {
			return badRequest("RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", roleID)
		}
		if !def.AssignableAt(scope) {
			return badRequest("InvalidRoleAssignmentRequest", "The role '%s' is not assignable at scope '%s'.", def.RoleName, scope.String())
		}
		n := 0
		for _, a := range as {
			if strings.EqualFold(a.Name, name) {
				if same(&a, rec) {
					*rec, created = a, false
					return nil
				}
				return conflict("RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
			}
			if same(&a, rec) {
				return conflict("RoleAssignmentExists", "The role assignment already exists.")
			}
			if sc, err := armrbac.ParseScope(a.Scope); err == nil && sc.Subscription == sub.ID {
				n++
			}
		}
		if n >= MaxAssignmentsPerSubscription {
			return badRequest("RoleAssignmentLimitExceeded", "No more role assignments can be created in subscription %s (limit %d).", sub.ID, MaxAssignmentsPerSubscription)
		}
		created = true
		return store.PutJSON(tx, raKey(name), rec)
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		if err := s.recompile(ctx); err != nil {
			return nil, false, err
		}
	}
	w := rec.wire()
	return &w, created, nil
}

func same(a, b *assignmentRecord) bool {
	sa, _ := armrbac.ParseScope(a.Scope)
	sb, _ := armrbac.ParseScope(b.Scope)
	return sa.Key() == sb.Key() && strings.EqualFold(a.RoleDefinitionID, b.RoleDefinitionID) && strings.EqualFold(a.PrincipalID, b.PrincipalID)
}

func findRole(defs []armrbac.RoleDefinition, id string) (armrbac.RoleDefinition, bool) {
	for _, d := range defs {
		if strings.EqualFold(d.ID, id) {
			return d, true
		}
	}
	return armrbac.RoleDefinition{}, false
}

// principalType checks that oid is a principal of tenant tid and, when the
// caller said, of the type it said; it returns the type.
func (s *Service) principalType(ctx context.Context, tid, oid, claimed string) (string, error) {
	if s.o.Directory == nil {
		if claimed == "" {
			claimed = PrincipalUser
		}
		return claimed, nil
	}
	kind, err := s.o.Directory.PrincipalKind(ctx, tid, oid)
	if err != nil {
		return "", err
	}
	if kind == "" {
		return "", badRequest("PrincipalNotFound", "Principal %s does not exist in the directory %s. Check that you have the correct principal ID.", strings.ReplaceAll(oid, "-", ""), tid)
	}
	if claimed != "" && !strings.EqualFold(claimed, kind) {
		return "", badRequest("UnmatchedPrincipalType", "The PrincipalId '%s' has type '%s', which is different from specified PrincipalType '%s'.", strings.ReplaceAll(oid, "-", ""), kind, claimed)
	}
	return kind, nil
}

func raNotFound() error {
	return notFound("RoleAssignmentNotFound", "The role assignment does not exist.")
}

// Assignment returns assignment name at scope.
func (s *Service) Assignment(ctx context.Context, scope armrbac.Scope, name string) (*wire.ARMRoleAssignment, error) {
	var a assignmentRecord
	err := s.st.View(ctx, func(tx store.Tx) error { return store.GetJSON(tx, raKey(name), &a) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, raNotFound()
	}
	if err != nil {
		return nil, err
	}
	if sc, err := armrbac.ParseScope(a.Scope); err != nil || sc.Key() != scope.Key() {
		return nil, raNotFound()
	}
	w := a.wire()
	return &w, nil
}

// DeleteAssignment deletes assignment name at scope and returns it; nil
// and no error when there was none.
func (s *Service) DeleteAssignment(ctx context.Context, scope armrbac.Scope, name string) (*wire.ARMRoleAssignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, err := s.Assignment(ctx, scope, name)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(raKey(name)) }); err != nil {
		return nil, err
	}
	return w, s.recompile(ctx)
}

// AssignmentFilter is the $filter of a role assignment list.
type AssignmentFilter struct {
	// AtScope keeps assignments at the scope or above it (atScope()).
	AtScope bool
	// Principals, when set, keeps assignments to one of these object ids
	// (principalId eq '…', or assignedTo('…') expanded with its groups).
	Principals []string
}

// ListAssignments lists the assignments at, above and (unless AtScope)
// below scope that match f, sorted by id.
func (s *Service) ListAssignments(ctx context.Context, scope armrbac.Scope, f AssignmentFilter) ([]wire.ARMRoleAssignment, error) {
	var as []assignmentRecord
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		as, _, err = loadRoles(tx)
		return err
	}); err != nil {
		return nil, err
	}
	out := []wire.ARMRoleAssignment{}
	for i := range as {
		sc, err := armrbac.ParseScope(as[i].Scope)
		if err != nil {
			continue
		}
		related := sc.Contains(scope) || (!f.AtScope && scope.Contains(sc))
		if !related || (f.Principals != nil && !containsFold(f.Principals, as[i].PrincipalID)) {
			continue
		}
		out = append(out, as[i].wire())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func containsFold(xs []string, x string) bool {
	for _, v := range xs {
		if strings.EqualFold(v, x) {
			return true
		}
	}
	return false
}

// removeAssignmentsUnder deletes every assignment at or below scope (its
// resource is gone).
func (s *Service) removeAssignmentsUnder(ctx context.Context, scope armrbac.Scope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.st.Update(ctx, func(tx store.Tx) error {
		as, _, err := loadRoles(tx)
		if err != nil {
			return err
		}
		for _, a := range as {
			if sc, err := armrbac.ParseScope(a.Scope); err == nil && scope.Contains(sc) {
				if err := tx.Delete(raKey(a.Name)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.recompile(ctx)
}
