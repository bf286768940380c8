package hsm

import (
	"context"
	"slices"
	"strings"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// The separation-of-duties guard (SettingSoD, rules in SoDRules).
//
// A holder is a principal that acts: a user, service principal or managed
// identity, or a group judged as itself. What it holds in effect is the
// union of the grants of its own assignments and of every group it belongs
// to, directly or nested. The guard re-checks every holder a change can
// reach, at each of the three ways two conflicting grants can meet:
//
//   - a role assignment (Assign): its principal and, for a group, every
//     transitive member;
//   - a role definition change (PutRoleDefinition): every holder of an
//     assignment of that role, direct or through groups;
//   - a group membership change (GuardMembership, which the directory calls
//     around its write): the member and, for a group, every transitive
//     member, as if the membership were already made.
//
// A role change reads group membership under its HSM's policy lock
// (changeRoles' prepare step), and a membership change is checked and
// written under the policy locks of every HSM of the tenant, so the two
// cannot each pass a check the other invalidates.

// GroupResolver expands group membership for the guard. Errors are returned
// unchanged; an id that is not a group has no members.
type GroupResolver interface {
	// TransitiveMemberOf returns the ids of every group oid belongs to,
	// directly or nested.
	TransitiveMemberOf(ctx context.Context, tenantID, oid string) ([]string, error)
	// TransitiveMemberIDs returns the object ids reachable from group gid.
	TransitiveMemberIDs(ctx context.Context, tenantID, gid string) ([]string, error)
}

// holder is a principal and the groups it belongs to.
type holder struct {
	id     string
	groups []string
}

// holdersOf returns every holder that principal ids reach: each id and,
// for a group, its transitive members; with extra groups added to each
// holder's groups (a membership about to be made).
func (s *Service) holdersOf(ctx context.Context, tid string, ids []string, extra ...string) ([]holder, error) {
	seen := map[string]bool{}
	var out []holder
	add := func(id string) error {
		id = strings.ToLower(id)
		if seen[id] {
			return nil
		}
		seen[id] = true
		h := holder{id: id, groups: extra}
		if s.groups != nil {
			gs, err := s.groups.TransitiveMemberOf(ctx, tid, id)
			if err != nil {
				return err
			}
			h.groups = append(slices.Clone(extra), gs...)
		}
		out = append(out, h)
		return nil
	}
	for _, id := range ids {
		if err := add(id); err != nil {
			return nil, err
		}
		if s.groups == nil {
			continue
		}
		members, err := s.groups.TransitiveMemberIDs(ctx, tid, id)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			if err := add(m); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// checkSeparationOfDuties refuses the role state (defs, all) if a holder
// breaks a rule; why says what change is refused.
func checkSeparationOfDuties(defs []rbac.RoleDefinition, all []rbac.RoleAssignment, holders []holder, why string) error {
	for _, h := range holders {
		held := rbac.Grants(defs, all, append([]string{h.id}, h.groups...)...)
		for _, r := range SoDRules {
			if containsAny(held, r.A) && containsAny(held, r.B) {
				return badRequest("%s breaks the separation-of-duties rule %q (%s): principal %s would hold both.", why, r.Name, r.Explain, h.id)
			}
		}
	}
	return nil
}

func containsAny(held, want []rbac.Action) bool {
	for _, w := range want {
		if slices.Contains(held, w) {
			return true
		}
	}
	return false
}

// guardOn reads the guard setting of h.
func (s *Service) guardOn(ctx context.Context, h *HSM) (bool, error) {
	return s.settingOn(ctx, h, SettingSoD)
}

// holdersOfRole returns every holder of an assignment of role id in h.
func (s *Service) holdersOfRole(ctx context.Context, h *HSM, id string) ([]holder, error) {
	as, err := s.Assignments(ctx, h)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, a := range as {
		if strings.EqualFold(a.RoleDefinitionID, id) {
			ids = append(ids, a.PrincipalID)
		}
	}
	return s.holdersOf(ctx, h.TenantID, ids)
}

// GuardMembership runs write, the directory's write adding member to group
// gid of tenant tid, unless that membership would break a
// separation-of-duties rule in an HSM of the tenant whose guard is on: then
// it returns the refusal (an *Error of KindBadRequest naming the rule) and
// does not call write. Check and write run under the policy lock of every
// HSM of the tenant, so no role change of theirs interleaves. write's error
// is returned unchanged.
func (s *Service) GuardMembership(ctx context.Context, tid, gid, member string, write func() error) error {
	tid = strings.ToLower(tid)
	var hs []*HSM
	for _, name := range s.List() { // sorted: locks are taken in one order
		if h, ok := s.Get(name); ok && h.TenantID == tid {
			hs = append(hs, h)
		}
	}
	for _, h := range hs {
		h.pol.lock(h.Name)
		defer h.pol.mu.Unlock()
	}
	if err := s.checkMembership(ctx, hs, tid, strings.ToLower(gid), strings.ToLower(member)); err != nil {
		return err
	}
	return write()
}

// checkMembership returns the refusal, naming the rule, if adding member to
// group gid would break a rule in one of hs whose guard is on.
func (s *Service) checkMembership(ctx context.Context, hs []*HSM, tid, gid, member string) error {
	var extra []string
	for _, h := range hs {
		on, err := s.guardOn(ctx, h)
		if err != nil {
			return err
		}
		if !on {
			continue
		}
		if extra == nil {
			extra = []string{gid}
			if s.groups != nil {
				up, err := s.groups.TransitiveMemberOf(ctx, tid, gid)
				if err != nil {
					return err
				}
				extra = append(extra, up...)
			}
		}
		holders, err := s.holdersOf(ctx, tid, []string{member}, extra...)
		if err != nil {
			return err
		}
		var defs []rbac.RoleDefinition
		var as []rbac.RoleAssignment
		if err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			if defs, err = roleDefinitions(tx, h.Name); err != nil {
				return err
			}
			as, err = assignments(tx, h.Name)
			return err
		}); err != nil {
			return err
		}
		if err := checkSeparationOfDuties(defs, as, holders, "Adding "+member+" to group "+gid+" (managed HSM "+h.Name+")"); err != nil {
			return err
		}
	}
	return nil
}
