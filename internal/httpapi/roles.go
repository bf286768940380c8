package httpapi

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/wire"
)

const roleDefPrefix = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"

// scopePrefixes are the path prefixes of the three scope forms: "/",
// "/keys" and "/keys/{name}" (the last is key-scoped).
var scopePrefixes = []struct {
	path      string
	keyScoped bool
}{{"", false}, {"/keys", false}, {"/keys/{name}", true}}

// urlScope is the canonical scope named by the request path: "/keys/{name}"
// for key-scoped routes, "/keys" for those under /keys, else "/" ("/keys" is
// a scope of its own, distinct from "/").
func urlScope(r *Request) string {
	if n, ok := r.Params["name"]; ok {
		return rbac.KeyScope(n)
	}
	if segs, err := splitPath(r.HTTP.URL.EscapedPath()); err == nil && len(segs) > 0 && strings.EqualFold(segs[0], "keys") {
		return rbac.KeysScope
	}
	return rbac.HSMScope
}

func assignmentOut(a *rbac.RoleAssignment) wire.RoleAssignment {
	prefix := ""
	if a.Scope != "/" {
		prefix = a.Scope
	}
	return wire.RoleAssignment{
		ID: prefix + "/providers/Microsoft.Authorization/roleAssignments/" + a.ID, Name: a.ID, Type: "Microsoft.Authorization/roleAssignments",
		Properties: wire.RoleAssignmentProperties{Scope: a.Scope, RoleDefinitionID: roleDefPrefix + a.RoleDefinitionID, PrincipalID: a.PrincipalID},
	}
}

func definitionOut(d *rbac.RoleDefinition) wire.RoleDefinition {
	return wire.RoleDefinition{
		ID: roleDefPrefix + d.ID, Name: d.ID, Type: "Microsoft.Authorization/roleDefinitions",
		Properties: wire.RoleDefinitionProperties{RoleName: d.RoleName, Description: d.Description, RoleType: d.Type,
			Permissions: d.Permissions, AssignableScopes: d.AssignableScopes},
	}
}

// roleRoutes is the local RBAC API (rbac.json, 7.6) at every scope form.
func (s *Server) roleRoutes() []Route {
	var routes []Route
	for _, sp := range scopePrefixes {
		ra := sp.path + "/providers/Microsoft.Authorization/roleAssignments"
		// Role definitions live at "/": their routes authorize there
		// whatever scope form the path uses (issue #14.1).
		rd := sp.path + "/providers/Microsoft.Authorization/roleDefinitions"
		routes = append(routes,
			Route{Method: "GET", Pattern: ra, Operation: "RoleAssignmentList", BeforeActivation: true, Action: rbac.RoleAssignRead, KeyScoped: sp.keyScoped, Handle: s.roleAssignmentList},
			Route{Method: "GET", Pattern: ra + "/{id}", Operation: "RoleAssignmentGet", BeforeActivation: true, Action: rbac.RoleAssignRead, KeyScoped: sp.keyScoped, Handle: s.roleAssignmentGet},
			Route{Method: "PUT", Pattern: ra + "/{id}", Operation: "RoleAssignmentCreate", Action: rbac.RoleAssignWrite, KeyScoped: sp.keyScoped, Handle: s.roleAssignmentCreate},
			Route{Method: "DELETE", Pattern: ra + "/{id}", Operation: "RoleAssignmentDelete", Action: rbac.RoleAssignDelete, KeyScoped: sp.keyScoped, Handle: s.roleAssignmentDelete},
			Route{Method: "GET", Pattern: rd, Operation: "RoleDefinitionList", BeforeActivation: true, Action: rbac.RoleDefRead, KeyScoped: false, Handle: s.roleDefinitionList},
			Route{Method: "GET", Pattern: rd + "/{id}", Operation: "RoleDefinitionGet", BeforeActivation: true, Action: rbac.RoleDefRead, KeyScoped: false, Handle: s.roleDefinitionGet},
			Route{Method: "PUT", Pattern: rd + "/{id}", Operation: "RoleDefinitionCreate", Action: rbac.RoleDefWrite, KeyScoped: false, Handle: s.roleDefinitionCreate},
			Route{Method: "DELETE", Pattern: rd + "/{id}", Operation: "RoleDefinitionDelete", Action: rbac.RoleDefDelete, KeyScoped: false, Handle: s.roleDefinitionDelete},
		)
	}
	return routes
}

func (s *Server) roleAssignmentList(r *Request) (int, any, error) {
	all, err := s.hsms.Assignments(r.Ctx, r.HSM)
	if err != nil {
		return 0, nil, err
	}
	sel, err := filterAssignments(all, urlScope(r), r.Query.Get("$filter"))
	if err != nil {
		return 0, nil, err
	}
	out := wire.List[wire.RoleAssignment]{Value: []wire.RoleAssignment{}}
	for i := range sel {
		out.Value = append(out.Value, assignmentOut(&sel[i]))
	}
	return http.StatusOK, out, nil
}

func (s *Server) roleAssignmentGet(r *Request) (int, any, error) {
	a, err := s.hsms.GetAssignment(r.Ctx, r.HSM, r.Params["id"])
	if err != nil {
		return 0, nil, err
	}
	if a.Scope != urlScope(r) {
		return 0, nil, errAssignmentNotFound
	}
	return http.StatusOK, assignmentOut(a), nil
}

func (s *Server) roleAssignmentCreate(r *Request) (int, any, error) {
	var body wire.RoleAssignmentCreateParameters
	if err := r.Decode(&body); err != nil {
		return 0, nil, err
	}
	if body.Properties.RoleDefinitionID == "" || body.Properties.PrincipalID == "" {
		return 0, nil, errBadRequest("properties.roleDefinitionId and properties.principalId are required.")
	}
	a, err := s.hsms.Assign(r.Ctx, r.HSM, rbac.RoleAssignment{ID: r.Params["id"], Scope: urlScope(r),
		RoleDefinitionID: body.Properties.RoleDefinitionID, PrincipalID: body.Properties.PrincipalID})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, assignmentOut(a), nil
}

func (s *Server) roleAssignmentDelete(r *Request) (int, any, error) {
	a, err := s.hsms.GetAssignment(r.Ctx, r.HSM, r.Params["id"])
	if err != nil {
		return 0, nil, err
	}
	if a.Scope != urlScope(r) {
		return 0, nil, errAssignmentNotFound
	}
	if a, err = s.hsms.DeleteAssignment(r.Ctx, r.HSM, a.ID); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, assignmentOut(a), nil
}

func (s *Server) roleDefinitionList(r *Request) (int, any, error) {
	defs, err := s.hsms.RoleDefinitions(r.Ctx, r.HSM)
	if err != nil {
		return 0, nil, err
	}
	name, err := roleNameFilter(r.Query.Get("$filter"))
	if err != nil {
		return 0, nil, err
	}
	out := wire.List[wire.RoleDefinition]{Value: []wire.RoleDefinition{}}
	for i := range defs {
		if name == "" || strings.EqualFold(defs[i].RoleName, name) {
			out.Value = append(out.Value, definitionOut(&defs[i]))
		}
	}
	return http.StatusOK, out, nil
}

func (s *Server) roleDefinitionGet(r *Request) (int, any, error) {
	d, err := s.hsms.GetRoleDefinition(r.Ctx, r.HSM, r.Params["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, definitionOut(d), nil
}

func (s *Server) roleDefinitionCreate(r *Request) (int, any, error) {
	if urlScope(r) != "/" {
		return 0, nil, errBadRequest("Managed HSM only supports '/' as the scope of role definitions.")
	}
	var body wire.RoleDefinitionCreateParameters
	if err := r.Decode(&body); err != nil {
		return 0, nil, err
	}
	p := body.Properties
	d, err := s.hsms.PutRoleDefinition(r.Ctx, r.HSM, rbac.RoleDefinition{ID: r.Params["id"], RoleName: p.RoleName,
		Description: p.Description, Type: p.RoleType, Permissions: p.Permissions, AssignableScopes: p.AssignableScopes})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, definitionOut(d), nil
}

func (s *Server) roleDefinitionDelete(r *Request) (int, any, error) {
	d, err := s.hsms.DeleteRoleDefinition(r.Ctx, r.HSM, r.Params["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, definitionOut(d), nil
}

var errAssignmentNotFound = &hsm.Error{Kind: hsm.KindNotFound, Code: "RoleAssignmentNotFound", Message: "Requested role assignment not found"}

var (
	principalFilter = regexp.MustCompile(`(?i)^principalId\s+eq\s+'([0-9a-fA-F-]{36})'$`)
	roleNameEq      = regexp.MustCompile(`(?i)^roleName\s+eq\s+'([^']{1,256})'$`)
)

// filterAssignments applies Azure's list semantics: without a filter, the
// assignments exactly at scope; atScope(): at or above scope;
// principalId eq '{id}': that principal's, at, above or below scope. The
// two may be joined with "and".
func filterAssignments(all []rbac.RoleAssignment, scope, filter string) ([]rbac.RoleAssignment, error) {
	atScope, principal := false, ""
	if f := strings.TrimSpace(filter); f != "" {
		for _, part := range regexp.MustCompile(`(?i)\s+and\s+`).Split(f, -1) {
			part = strings.TrimSpace(part)
			if strings.EqualFold(part, "atScope()") {
				atScope = true
				continue
			}
			m := principalFilter.FindStringSubmatch(part)
			if m == nil {
				return nil, errBadRequest("Unsupported $filter: use atScope() or principalId eq '<object id>'.")
			}
			principal = strings.ToLower(m[1])
		}
	}
	var out []rbac.RoleAssignment
	for _, a := range all {
		above := rbac.Covers(a.Scope, scope)
		below := rbac.Covers(scope, a.Scope)
		var keep bool
		switch {
		case principal != "" && atScope:
			keep = a.PrincipalID == principal && above
		case principal != "":
			keep = a.PrincipalID == principal && (above || below)
		case atScope:
			keep = above
		default:
			keep = a.Scope == scope
		}
		if keep {
			out = append(out, a)
		}
	}
	return out, nil
}

func roleNameFilter(filter string) (string, error) {
	f := strings.TrimSpace(filter)
	if f == "" {
		return "", nil
	}
	if m := roleNameEq.FindStringSubmatch(f); m != nil {
		return m[1], nil
	}
	if strings.EqualFold(f, "atScopeAndBelow()") {
		return "", nil
	}
	return "", errBadRequest("Unsupported $filter: use roleName eq '<name>'.")
}
