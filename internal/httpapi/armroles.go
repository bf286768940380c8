package httpapi

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/mgmt"
	"github.com/mhsm/mhsm/internal/wire"
)

// armRoleRoutes: Microsoft.Authorization role assignments and definitions
// at any scope (subscription, resource group, HSM), inherited downward.
func (s *Server) armRoleRoutes() []ARMRoute {
	const (
		ra = "{scope*}/providers/Microsoft.Authorization/roleAssignments"
		rd = "{scope*}/providers/Microsoft.Authorization/roleDefinitions"
	)
	return []ARMRoute{
		{Method: "PUT", Pattern: ra + "/{name}", Operation: "RoleAssignmentCreate", Action: armrbac.RoleAssignmentsWrite, Handle: s.armAssignmentPut},
		{Method: "GET", Pattern: ra + "/{name}", Operation: "RoleAssignmentGet", Action: armrbac.RoleAssignmentsRead, Handle: s.armAssignmentGet},
		{Method: "DELETE", Pattern: ra + "/{name}", Operation: "RoleAssignmentDelete", Action: armrbac.RoleAssignmentsDelete, Handle: s.armAssignmentDelete},
		{Method: "GET", Pattern: ra, Operation: "RoleAssignmentList", Action: armrbac.RoleAssignmentsRead, Handle: s.armAssignmentList},
		// Built-in role definitions are public knowledge: any caller may
		// read definitions at the root scope (custom roles of its tenant
		// included); below the root, reading needs roleDefinitions/read.
		{Method: "GET", Pattern: "/providers/Microsoft.Authorization/roleDefinitions/{roleId}", Operation: "RoleDefinitionGet", AnyCaller: true, Handle: s.armRoleDefinitionGet},
		{Method: "GET", Pattern: "/providers/Microsoft.Authorization/roleDefinitions", Operation: "RoleDefinitionList", AnyCaller: true, Handle: s.armRoleDefinitionList},
		{Method: "GET", Pattern: rd + "/{roleId}", Operation: "RoleDefinitionGet", Action: armrbac.RoleDefinitionsRead, Handle: s.armRoleDefinitionGet},
		{Method: "GET", Pattern: rd, Operation: "RoleDefinitionList", Action: armrbac.RoleDefinitionsRead, Handle: s.armRoleDefinitionList},
		{Method: "PUT", Pattern: rd + "/{roleId}", Operation: "RoleDefinitionCreateOrUpdate", Action: armrbac.RoleDefinitionsWrite,
			Also: s.roleDefinitionChecks(armrbac.RoleDefinitionsWrite), Handle: s.armRoleDefinitionPut},
		{Method: "DELETE", Pattern: rd + "/{roleId}", Operation: "RoleDefinitionDelete", Action: armrbac.RoleDefinitionsDelete,
			Also: s.roleDefinitionChecks(armrbac.RoleDefinitionsDelete), Handle: s.armRoleDefinitionDelete},
	}
}

func (s *Server) armAssignmentPut(r *ARMRequest) (int, any, error) {
	var in wire.ARMRoleAssignmentCreateParameters
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	out, created, err := s.mgmt.PutAssignment(r.Ctx, r.By(), r.Scope, r.Params["name"], in.Properties)
	if err != nil {
		return 0, nil, err
	}
	if created {
		return http.StatusCreated, out, nil
	}
	return http.StatusOK, out, nil
}

func (s *Server) armAssignmentGet(r *ARMRequest) (int, any, error) {
	out, err := s.mgmt.Assignment(r.Ctx, r.Scope, r.Params["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (s *Server) armAssignmentDelete(r *ARMRequest) (int, any, error) {
	out, err := s.mgmt.DeleteAssignment(r.Ctx, r.Scope, r.Params["name"])
	if err != nil {
		return 0, nil, err
	}
	if out == nil {
		return http.StatusNoContent, nil, nil
	}
	return http.StatusOK, out, nil
}

var (
	filterPrincipal  = regexp.MustCompile(`(?i)^principalId\s+eq\s+'([0-9a-f-]{36})'$`)
	filterAssignedTo = regexp.MustCompile(`(?i)^assignedTo\('([0-9a-f-]{36})'\)$`)
	filterAtScope    = regexp.MustCompile(`(?i)^atScope\(\)$`)
	filterRoleName   = regexp.MustCompile(`(?i)^roleName\s+eq\s+'(.{1,512})'$`)
	filterRoleType   = regexp.MustCompile(`(?i)^type\s+eq\s+'(BuiltInRole|CustomRole)'$`)
	filterAnd        = regexp.MustCompile(`(?i)\s+and\s+`)
)

func unsupportedFilter(f string) error {
	return armBadRequest("UnsupportedQuery", "The filter "+quoteSafe(f)+" is not supported.")
}

// assignmentFilter parses the $filter forms Azure supports for role
// assignment lists: atScope(), principalId eq '…', assignedTo('…'), and
// atScope() with one of the other two.
func (s *Server) assignmentFilter(r *ARMRequest) (mgmt.AssignmentFilter, error) {
	var f mgmt.AssignmentFilter
	raw := strings.TrimSpace(r.Query.Get("$filter"))
	if raw == "" {
		return f, nil
	}
	for _, term := range filterAnd.Split(raw, -1) {
		term = strings.TrimSpace(term)
		switch {
		case filterAtScope.MatchString(term) && !f.AtScope:
			f.AtScope = true
		case filterPrincipal.MatchString(term) && f.Principals == nil:
			f.Principals = []string{strings.ToLower(filterPrincipal.FindStringSubmatch(term)[1])}
		case filterAssignedTo.MatchString(term) && f.Principals == nil:
			id := strings.ToLower(filterAssignedTo.FindStringSubmatch(term)[1])
			if _, err := uuid.Parse(id); err != nil {
				return f, unsupportedFilter(raw)
			}
			groups, err := s.groupsOf(r.Ctx, r.Caller.TenantID, id)
			if err != nil {
				return f, err
			}
			f.Principals = append([]string{id}, groups...)
		default:
			return f, unsupportedFilter(raw)
		}
	}
	return f, nil
}

func (s *Server) armAssignmentList(r *ARMRequest) (int, any, error) {
	f, err := s.assignmentFilter(r)
	if err != nil {
		return 0, nil, err
	}
	out, err := s.mgmt.ListAssignments(r.Ctx, r.Scope, f)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wire.ARMList[wire.ARMRoleAssignment]{Value: out}, nil
}

func (s *Server) armRoleDefinitionGet(r *ARMRequest) (int, any, error) {
	out, err := s.mgmt.RoleDefinition(r.Ctx, r.Scope, r.Caller.TenantID, strings.ToLower(r.Params["roleId"]))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (s *Server) armRoleDefinitionList(r *ARMRequest) (int, any, error) {
	var f mgmt.RoleDefinitionFilter
	if raw := strings.TrimSpace(r.Query.Get("$filter")); raw != "" {
		terms := filterAnd.Split(raw, -1)
		if filterRoleName.MatchString(raw) { // a role name may contain " and "
			terms = []string{raw}
		}
		for _, term := range terms {
			term = strings.TrimSpace(term)
			switch {
			case filterRoleName.MatchString(term):
				f.RoleName = filterRoleName.FindStringSubmatch(term)[1]
			case filterRoleType.MatchString(term):
				f.Type = filterRoleType.FindStringSubmatch(term)[1]
			default:
				return 0, nil, unsupportedFilter(raw)
			}
		}
	}
	out, err := s.mgmt.RoleDefinitions(r.Ctx, r.Scope, r.Caller.TenantID, f)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wire.ARMList[wire.ARMRoleDefinition]{Value: out}, nil
}

// roleDefinitionChecks: changing a custom role needs the action at every
// scope it is (or becomes) assignable at.
func (s *Server) roleDefinitionChecks(a armrbac.Action) func(*ARMRequest) ([]ARMCheck, error) {
	return func(r *ARMRequest) ([]ARMCheck, error) {
		scopes, err := s.mgmt.RoleDefinitionScopes(r.Ctx, strings.ToLower(r.Params["roleId"]))
		if err != nil {
			return nil, err
		}
		if r.HTTP.Method == http.MethodPut {
			var in wire.ARMRoleDefinition
			if err := r.Decode(&in); err != nil {
				return nil, err
			}
			scopes = append(scopes, in.Properties.AssignableScopes...)
		}
		var out []ARMCheck
		for _, sc := range scopes {
			p, err := armrbac.ParseScope(sc)
			if err != nil {
				return nil, armBadRequest("InvalidAssignableScopes", "The assignable scope "+quoteSafe(sc)+" is not valid.")
			}
			out = append(out, ARMCheck{Action: a, Scope: p})
		}
		return out, nil
	}
}

func (s *Server) armRoleDefinitionPut(r *ARMRequest) (int, any, error) {
	var in wire.ARMRoleDefinition
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	out, err := s.mgmt.PutRoleDefinition(r.Ctx, r.By(), r.Scope, r.Caller.TenantID, r.Params["roleId"], in.Properties)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, out, nil
}

func (s *Server) armRoleDefinitionDelete(r *ARMRequest) (int, any, error) {
	out, err := s.mgmt.DeleteRoleDefinition(r.Ctx, r.Scope, r.Caller.TenantID, strings.ToLower(r.Params["roleId"]))
	if err != nil {
		return 0, nil, err
	}
	if out == nil {
		return http.StatusNoContent, nil, nil
	}
	return http.StatusOK, out, nil
}
