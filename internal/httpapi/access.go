package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sort"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/wire"
)

// accessRoutes is mhsm's access review API (an extension: Managed HSM has
// none): "may P do A at S, and which assignment says so" and "who can do A
// at S", groups expanded through the directory. Both need
// roleAssignments/read/action at "/".
func (s *Server) accessRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/mhsm/access/check", Operation: "AccessCheck", Action: rbac.RoleAssignRead, Handle: s.accessCheck},
		{Method: "POST", Pattern: "/mhsm/access/whocan", Operation: "AccessWhoCan", Action: rbac.RoleAssignRead, Handle: s.accessWhoCan},
	}
}

func parseReview(r *Request) (wire.AccessQuery, rbac.Action, string, error) {
	var q wire.AccessQuery
	if err := r.Decode(&q); err != nil {
		return q, "", "", err
	}
	a, ok := rbac.ParseAction(q.Action)
	if !ok {
		return q, "", "", errBadRequest("action " + quoteSafe(q.Action) + " is not a Managed HSM data action.")
	}
	if q.Scope == "" {
		q.Scope = "/"
	}
	scope, err := rbac.CanonicalScope(q.Scope)
	if err != nil {
		return q, "", "", errBadRequest("scope " + quoteSafe(q.Scope) + " is not valid: use /, /keys or /keys/{name}.")
	}
	return q, a, scope, nil
}

func (s *Server) accessCheck(r *Request) (int, any, error) {
	q, action, scope, err := parseReview(r)
	if err != nil {
		return 0, nil, err
	}
	groups, err := s.groupsOf(r.Ctx, r.HSM.TenantID, q.PrincipalID)
	if err != nil {
		return 0, nil, err
	}
	d := r.HSM.Policy().Decide(rbac.Principal{ObjectID: q.PrincipalID, Groups: groups}, action, scope)
	out := wire.AccessCheckResult{PrincipalID: q.PrincipalID, Action: string(action), Scope: scope, Allowed: d.Allowed}
	if d.Allowed {
		g, err := s.grantOut(r, d.Assignment)
		if err != nil {
			return 0, nil, err
		}
		out.GrantedBy = g
	}
	return http.StatusOK, out, nil
}

func (s *Server) accessWhoCan(r *Request) (int, any, error) {
	_, action, scope, err := parseReview(r)
	if err != nil {
		return 0, nil, err
	}
	out := wire.List[wire.AccessGrant]{Value: []wire.AccessGrant{}}
	seen := map[string]bool{}
	for _, g := range r.HSM.Policy().WhoCan(action, scope) {
		grant, err := s.grantOut(r, g.Assignment)
		if err != nil {
			return 0, nil, err
		}
		kind := s.kindOf(r.Ctx, r.HSM.TenantID, g.PrincipalID)
		add := func(pid, kind, via string) {
			key := pid + "|" + grant.AssignmentID
			if seen[key] {
				return
			}
			seen[key] = true
			ag := *grant
			ag.PrincipalID, ag.PrincipalType, ag.Via = pid, kind, via
			out.Value = append(out.Value, ag)
		}
		add(g.PrincipalID, kind, "")
		if kind == directory.KindGroup && s.dir != nil {
			members, err := s.dir.TransitiveMembers(r.Ctx, r.HSM.TenantID, g.PrincipalID)
			if err != nil && !errors.Is(err, directory.ErrNotFound) {
				return 0, nil, err
			}
			for _, m := range members {
				add(m.ID(), m.Kind, g.PrincipalID)
			}
		}
	}
	sort.SliceStable(out.Value, func(i, j int) bool { return out.Value[i].PrincipalID < out.Value[j].PrincipalID })
	return http.StatusOK, out, nil
}

// grantOut describes an assignment with its role name.
func (s *Server) grantOut(r *Request, assignmentID string) (*wire.AccessGrant, error) {
	a, err := s.hsms.GetAssignment(r.Ctx, r.HSM, assignmentID)
	if err != nil {
		return nil, err
	}
	g := &wire.AccessGrant{AssignmentID: a.ID, Assignee: a.PrincipalID, RoleDefinitionID: a.RoleDefinitionID, Scope: a.Scope}
	if d, err := s.hsms.GetRoleDefinition(r.Ctx, r.HSM, a.RoleDefinitionID); err == nil {
		g.RoleName = d.RoleName
	}
	return g, nil
}

// groupsOf returns the groups oid belongs to, transitively (none when the
// directory does not know oid).
func (s *Server) groupsOf(ctx context.Context, tid, oid string) ([]string, error) {
	if s.dir == nil {
		return nil, nil
	}
	gs, err := s.dir.TransitiveMemberOf(ctx, tid, oid)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	return gs, err
}

func (s *Server) kindOf(ctx context.Context, tid, oid string) string {
	if s.dir == nil {
		return "unknown"
	}
	k, err := s.dir.ObjectKind(ctx, tid, oid)
	if err != nil {
		return "unknown"
	}
	return k
}
