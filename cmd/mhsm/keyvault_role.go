package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/client"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/wire"
)

// mhsm keyvault role …: local RBAC of one HSM, named as az keyvault role's,
// plus access review (check, who-can), which az has not.

func kvRoleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "Local RBAC of a managed HSM: assignments, definitions, access review (az keyvault role …)"}
	as := &cobra.Command{Use: "assignment", Short: "Role assignments at /, /keys or /keys/{name}"}
	as.AddCommand(kvAssignmentCreateCmd(), kvAssignmentListCmd(), kvAssignmentDeleteCmd())
	def := &cobra.Command{Use: "definition", Short: "Built-in and custom role definitions"}
	def.AddCommand(kvDefinitionListCmd(), kvDefinitionShowCmd(), kvDefinitionPutCmd("create"), kvDefinitionPutCmd("update"), kvDefinitionDeleteCmd())
	cmd.AddCommand(as, def, kvCheckCmd(), kvWhoCanCmd())
	return cmd
}

// scopePrefix is the path prefix of a scope ("" for "/").
func scopePrefix(scope string) (string, error) {
	s, err := rbac.CanonicalScope(scope)
	if err != nil {
		return "", fmt.Errorf("--scope %q: use /, /keys or /keys/{key name}", scope)
	}
	if s == "/" {
		return "", nil
	}
	return s, nil
}

// resolveAssignee maps an object id, UPN, group name, service principal
// display name or app id to an object id, looking names up in the
// directory (Graph) as the connection's principal, as az does.
func resolveAssignee(ctx context.Context, s *client.Session, who string) (string, error) {
	if _, err := uuid.Parse(who); err == nil {
		// An app id is a GUID too: prefer the service principal it names.
		if sps, err := list(ctx, s, "/v1.0/servicePrincipals", "appId eq "+quote(who)); err == nil && len(sps) == 1 {
			return sps[0].(gobj)["id"].(string), nil
		}
		return strings.ToLower(who), nil
	}
	var found []string
	for _, q := range []struct{ path, filter string }{
		{"/v1.0/users", "userPrincipalName eq " + quote(who)},
		{"/v1.0/groups", "displayName eq " + quote(who)},
		{"/v1.0/servicePrincipals", "displayName eq " + quote(who)},
	} {
		objs, err := list(ctx, s, q.path, q.filter)
		if err != nil {
			return "", fmt.Errorf("--assignee %q: looking the name up in the directory: %w", who, err)
		}
		for _, o := range objs {
			found = append(found, o.(gobj)["id"].(string))
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no user, group or service principal named %q", who)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%q names %d directory objects: use an object id", who, len(found))
}

// resolveLocalRole maps a role name or id to its definition.
func resolveLocalRole(ctx context.Context, c *dataConn, role string) (*wire.RoleDefinition, error) {
	defs, err := listPages[wire.RoleDefinition](ctx, c, "/providers/Microsoft.Authorization/roleDefinitions")
	if err != nil {
		return nil, err
	}
	id := role[strings.LastIndexByte(role, '/')+1:]
	for i := range defs {
		if strings.EqualFold(defs[i].Name, id) || strings.EqualFold(defs[i].Properties.RoleName, role) {
			return &defs[i], nil
		}
	}
	return nil, fmt.Errorf("no role named %q on this HSM", role)
}

func kvAssignmentCreateCmd() *cobra.Command {
	var assignee, role, scope, name string
	return dataCmd("create", "Assign a role to a user, group, service principal or managed identity at a scope.", func(cmd *cobra.Command) {
		f := cmd.Flags()
		f.StringVar(&assignee, "assignee", "", "object id, UPN, group name, service principal name or app id")
		f.StringVar(&assignee, "assignee-object-id", "", "object id (no directory lookup)")
		f.StringVar(&role, "role", "", "role name (e.g. \"Managed HSM Crypto User\") or id")
		f.StringVar(&scope, "scope", "/", "/, /keys or /keys/{key name}")
		f.StringVar(&name, "name", "", "assignment name (a GUID; default: new)")
		_ = cmd.MarkFlagRequired("role")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		if assignee == "" {
			return nil, errors.New("--assignee or --assignee-object-id is required")
		}
		oid, err := resolveAssignee(ctx, c.sess, assignee)
		if err != nil {
			return nil, err
		}
		def, err := resolveLocalRole(ctx, c, role)
		if err != nil {
			return nil, err
		}
		prefix, err := scopePrefix(scope)
		if err != nil {
			return nil, err
		}
		if name == "" {
			name = uuid.NewString()
		}
		var out wire.RoleAssignment
		_, err = c.do(ctx, "PUT", prefix+"/providers/Microsoft.Authorization/roleAssignments/"+name,
			wire.RoleAssignmentCreateParameters{Properties: wire.RoleAssignmentProperties{RoleDefinitionID: def.ID, PrincipalID: oid}}, &out)
		if err != nil {
			return nil, err
		}
		v := []assignmentView{withRoleName(out, def.Properties.RoleName)}
		nameAssignments(ctx, c.sess, v)
		return v[0], nil
	})
}

// assignmentView is how assignments print, flattened as az keyvault role
// assignment list prints them: the principal and the role named.
type assignmentView struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	PrincipalID        string `json:"principalId"`
	PrincipalName      string `json:"principalName"`
	PrincipalType      string `json:"principalType"`
	RoleDefinitionID   string `json:"roleDefinitionId"`
	RoleDefinitionName string `json:"roleDefinitionName"`
	Scope              string `json:"scope"`
	Type               string `json:"type"`
}

func withRoleName(a wire.RoleAssignment, role string) assignmentView {
	return assignmentView{ID: a.ID, Name: a.Name, PrincipalID: a.Properties.PrincipalID, Type: a.Type,
		RoleDefinitionID: a.Properties.RoleDefinitionID, RoleDefinitionName: role, Scope: a.Properties.Scope}
}

// nameAssignments fills in principal names and types from the directory.
func nameAssignments(ctx context.Context, s *client.Session, as []assignmentView) {
	ids := make([]string, len(as))
	for i := range as {
		ids[i] = as[i].PrincipalID
	}
	names := lookupPrincipals(ctx, s, ids)
	for i := range as {
		p := names[strings.ToLower(as[i].PrincipalID)]
		as[i].PrincipalName, as[i].PrincipalType = p.name, p.kind
	}
}

// listAssignments lists assignments at scope (and, with all, below it
// for "/"), optionally one principal's.
func listAssignments(ctx context.Context, c *dataConn, scope, principal string) ([]assignmentView, error) {
	prefix, err := scopePrefix(scope)
	if err != nil {
		return nil, err
	}
	path := prefix + "/providers/Microsoft.Authorization/roleAssignments"
	if principal != "" {
		path += "?$filter=" + url.QueryEscape("principalId eq '"+principal+"'")
	}
	as, err := listPages[wire.RoleAssignment](ctx, c, path)
	if err != nil {
		return nil, err
	}
	defs, err := listPages[wire.RoleDefinition](ctx, c, "/providers/Microsoft.Authorization/roleDefinitions")
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, d := range defs {
		names[strings.ToLower(d.ID)] = d.Properties.RoleName
	}
	out := []assignmentView{}
	for _, a := range as {
		out = append(out, withRoleName(a, names[strings.ToLower(a.Properties.RoleDefinitionID)]))
	}
	nameAssignments(ctx, c.sess, out)
	return out, nil
}

func kvAssignmentListCmd() *cobra.Command {
	var assignee, role, scope string
	return dataCmd("list", "List role assignments at a scope (--assignee: that principal's at, above or below it).", func(cmd *cobra.Command) {
		f := cmd.Flags()
		f.StringVar(&assignee, "assignee", "", "only this principal's (object id or name)")
		f.StringVar(&role, "role", "", "only this role (name or id)")
		f.StringVar(&scope, "scope", "/", "/, /keys or /keys/{key name}")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		oid := ""
		if assignee != "" {
			var err error
			if oid, err = resolveAssignee(ctx, c.sess, assignee); err != nil {
				return nil, err
			}
		}
		as, err := listAssignments(ctx, c, scope, oid)
		if err != nil || role == "" {
			return as, err
		}
		def, err := resolveLocalRole(ctx, c, role)
		if err != nil {
			return nil, err
		}
		keep := []assignmentView{}
		for _, a := range as {
			if strings.EqualFold(a.RoleDefinitionID, def.ID) {
				keep = append(keep, a)
			}
		}
		return keep, nil
	})
}

func kvAssignmentDeleteCmd() *cobra.Command {
	var assignee, role, scope, name string
	return dataCmd("delete", "Delete role assignments: by --name, or every one matching --assignee/--role at --scope.", func(cmd *cobra.Command) {
		f := cmd.Flags()
		f.StringVar(&name, "name", "", "assignment name")
		f.StringVar(&assignee, "assignee", "", "principal (object id or name)")
		f.StringVar(&role, "role", "", "role (name or id)")
		f.StringVar(&scope, "scope", "/", "/, /keys or /keys/{key name}")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		prefix, err := scopePrefix(scope)
		if err != nil {
			return nil, err
		}
		var names []string
		if name != "" {
			names = []string{name}
		} else {
			if assignee == "" && role == "" {
				return nil, errors.New("give --name, or --assignee and/or --role")
			}
			oid := ""
			if assignee != "" {
				if oid, err = resolveAssignee(ctx, c.sess, assignee); err != nil {
					return nil, err
				}
			}
			as, err := listAssignments(ctx, c, scope, oid)
			if err != nil {
				return nil, err
			}
			var roleID string
			if role != "" {
				def, err := resolveLocalRole(ctx, c, role)
				if err != nil {
					return nil, err
				}
				roleID = def.ID
			}
			canon, _ := rbac.CanonicalScope(scope)
			for _, a := range as {
				if a.Scope == canon && (roleID == "" || strings.EqualFold(a.RoleDefinitionID, roleID)) && (oid == "" || a.PrincipalID == oid) {
					names = append(names, a.Name)
				}
			}
			if len(names) == 0 {
				return nil, errors.New("no role assignment matches")
			}
		}
		deleted := []wire.RoleAssignment{}
		for _, n := range names {
			var out wire.RoleAssignment
			if _, err := c.do(ctx, "DELETE", prefix+"/providers/Microsoft.Authorization/roleAssignments/"+n, nil, &out); err != nil {
				return deleted, err
			}
			deleted = append(deleted, out)
		}
		return deleted, nil
	})
}

func kvDefinitionListCmd() *cobra.Command {
	var custom bool
	return dataCmd("list", "List role definitions.", func(cmd *cobra.Command) {
		cmd.Flags().BoolVar(&custom, "custom-role-only", false, "only custom roles")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		defs, err := listPages[wire.RoleDefinition](ctx, c, "/providers/Microsoft.Authorization/roleDefinitions")
		if err != nil || !custom {
			return defs, err
		}
		out := []wire.RoleDefinition{}
		for _, d := range defs {
			if d.Properties.RoleType == rbac.TypeCustom {
				out = append(out, d)
			}
		}
		return out, nil
	})
}

func kvDefinitionShowCmd() *cobra.Command {
	var role string
	return dataCmd("show", "Show a role definition by name or id.", func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&role, "name", "", "role id or role name")
		cmd.Flags().StringVar(&role, "role-name", "", "role name")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		return resolveLocalRole(ctx, c, role)
	})
}

// kvDefinitionPutCmd is create or update of a custom role from JSON in
// az's shape: {"roleName","description","dataActions","notDataActions"}
// (or the REST "properties" shape), given inline or as @file.
func kvDefinitionPutCmd(verb string) *cobra.Command {
	var spec string
	return dataCmd(verb, map[string]string{"create": "Create a custom role definition.", "update": "Update a custom role definition."}[verb], func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&spec, "role-definition", "", `JSON or @file: {"roleName":"…","description":"…","dataActions":[…],"notDataActions":[…]} (update: include "name")`)
		_ = cmd.MarkFlagRequired("role-definition")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		raw := []byte(spec)
		if f, ok := strings.CutPrefix(spec, "@"); ok {
			var err error
			if raw, err = os.ReadFile(f); err != nil {
				return nil, err
			}
		}
		var in struct {
			Name           string   `json:"name"`
			RoleName       string   `json:"roleName"`
			Description    string   `json:"description"`
			DataActions    []string `json:"dataActions"`
			NotDataActions []string `json:"notDataActions"`
		}
		if err := jsonStrict(raw, &in); err != nil {
			return nil, fmt.Errorf("--role-definition: %w", err)
		}
		id := in.Name
		if verb == "update" {
			if id == "" {
				def, err := resolveLocalRole(ctx, c, in.RoleName)
				if err != nil {
					return nil, err
				}
				id = def.Name
			}
		} else if id == "" {
			id = uuid.NewString()
		}
		body := wire.RoleDefinitionCreateParameters{Properties: wire.RoleDefinitionProperties{RoleName: in.RoleName, Description: in.Description,
			RoleType: rbac.TypeCustom, AssignableScopes: []string{"/"},
			Permissions: []rbac.Permission{{DataActions: in.DataActions, NotDataActions: in.NotDataActions}}}}
		var out wire.RoleDefinition
		_, err := c.do(ctx, "PUT", "/providers/Microsoft.Authorization/roleDefinitions/"+id, body, &out)
		return out, err
	})
}

func kvDefinitionDeleteCmd() *cobra.Command {
	var role string
	return dataCmd("delete", "Delete a custom role definition (its assignments then grant nothing).", func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&role, "name", "", "role id or role name")
		cmd.Flags().StringVar(&role, "role-name", "", "role name")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		def, err := resolveLocalRole(ctx, c, role)
		if err != nil {
			return nil, err
		}
		var out wire.RoleDefinition
		_, err = c.do(ctx, "DELETE", "/providers/Microsoft.Authorization/roleDefinitions/"+def.Name, nil, &out)
		return out, err
	})
}

func kvCheckCmd() *cobra.Command {
	var assignee, action, scope string
	return dataCmd("check", "May a principal do an action at a scope, and which assignment grants it (groups included).", func(cmd *cobra.Command) {
		f := cmd.Flags()
		f.StringVar(&assignee, "assignee", "", "principal (object id or name)")
		f.StringVar(&action, "action", "", "data action, e.g. sign, keys/decrypt/action or the full name")
		f.StringVar(&scope, "scope", "/", "/, /keys or /keys/{key name}")
		_ = cmd.MarkFlagRequired("assignee")
		_ = cmd.MarkFlagRequired("action")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		oid, err := resolveAssignee(ctx, c.sess, assignee)
		if err != nil {
			return nil, err
		}
		var out wire.AccessCheckResult
		_, err = c.do(ctx, "POST", "/mhsm/access/check", wire.AccessQuery{PrincipalID: oid, Action: action, Scope: scope}, &out)
		return out, err
	})
}

func kvWhoCanCmd() *cobra.Command {
	var action, scope string
	return dataCmd("who-can", "Every principal allowed an action at a scope, groups expanded, with the granting assignment.", func(cmd *cobra.Command) {
		f := cmd.Flags()
		f.StringVar(&action, "action", "", "data action, e.g. sign or the full name")
		f.StringVar(&scope, "scope", "/", "/, /keys or /keys/{key name}")
		_ = cmd.MarkFlagRequired("action")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		var out wire.List[map[string]any]
		if _, err := c.do(ctx, "POST", "/mhsm/access/whocan", wire.AccessQuery{Action: action, Scope: scope}, &out); err != nil {
			return nil, err
		}
		if c.tableView { // the table names principals and groups
			var ids []string
			for _, g := range out.Value {
				for _, k := range []string{"principalId", "via"} {
					if id, _ := g[k].(string); id != "" {
						ids = append(ids, id)
					}
				}
			}
			names := lookupPrincipals(ctx, c.sess, ids)
			for _, g := range out.Value {
				id, _ := g["principalId"].(string)
				via, _ := g["via"].(string)
				g["principalName"] = names[strings.ToLower(id)].name
				g["viaName"] = names[strings.ToLower(via)].name
			}
		}
		return out.Value, nil
	})
}
