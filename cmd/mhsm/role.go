package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// Management role assignments and definitions, as `az role assignment`
// and `az role definition`. (HSM-local roles are `mhsm keyvault role`.)

const authorizationAPI = "2022-04-01"

func roleCmd() *cobra.Command {
	r := &cobra.Command{Use: "role", Short: "Manage management-plane (Azure RBAC) roles (az role)"}
	a := &cobra.Command{Use: "assignment", Short: "Manage role assignments"}
	a.AddCommand(roleAssignmentCreateCmd(), roleAssignmentListCmd(), roleAssignmentDeleteCmd())
	d := &cobra.Command{Use: "definition", Short: "Read role definitions"}
	d.AddCommand(roleDefinitionListCmd())
	r.AddCommand(a, d)
	return r
}

// scopeOr is --scope, or the subscription.
func scopeOr(c *mgmtConn, scope string) (string, error) {
	if scope != "" {
		return "/" + strings.Trim(scope, "/"), nil
	}
	return c.sub()
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// resolveRole turns a role name, GUID or id into a role definition id.
func resolveRole(ctx context.Context, c *mgmtConn, scope, role string) (string, error) {
	if strings.Contains(strings.ToLower(role), "/roledefinitions/") {
		return role, nil
	}
	if guidPattern.MatchString(role) {
		sub, err := c.sub()
		if err != nil {
			return "", err
		}
		return sub + "/providers/Microsoft.Authorization/roleDefinitions/" + strings.ToLower(role), nil
	}
	defs, err := c.list(ctx, scope+"/providers/Microsoft.Authorization/roleDefinitions?$filter="+url.QueryEscape("roleName eq '"+role+"'"), authorizationAPI)
	if err != nil {
		return "", err
	}
	if len(defs) != 1 {
		return "", fmt.Errorf("role %q: %d role definitions match", role, len(defs))
	}
	id, _ := defs[0]["id"].(string)
	return id, nil
}

func roleAssignmentCreateCmd() *cobra.Command {
	var c mgmtConn
	var assignee, ptype, role, scope, description string
	cmd := connCmd(&cobra.Command{Use: "create", Short: "Assign a role to a user, group or service principal at a scope."}, &c, func(ctx context.Context) error {
		if assignee == "" || role == "" {
			return errors.New("--assignee-object-id and --role are required")
		}
		sc, err := scopeOr(&c, scope)
		if err != nil {
			return err
		}
		rid, err := resolveRole(ctx, &c, sc, role)
		if err != nil {
			return err
		}
		props := map[string]string{"roleDefinitionId": rid, "principalId": assignee}
		if ptype != "" {
			props["principalType"] = ptype
		}
		if description != "" {
			props["description"] = description
		}
		var out map[string]any
		if err := c.call(ctx, "PUT", sc+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(), authorizationAPI,
			map[string]any{"properties": props}, &out); err != nil {
			return err
		}
		return c.emit(flattenAssignments(ctx, &c, []map[string]any{out})[0])
	})
	f := cmd.Flags()
	f.StringVar(&assignee, "assignee-object-id", "", "object id of the user, group or service principal")
	f.StringVar(&ptype, "assignee-principal-type", "", "User, Group or ServicePrincipal (checked against the directory)")
	f.StringVar(&role, "role", "", `role name ("Managed HSM Contributor"), GUID or id`)
	f.StringVar(&scope, "scope", "", "scope: a subscription, resource group or HSM id (default: the subscription)")
	f.StringVar(&description, "description", "", "description of the assignment")
	return cmd
}

// assignments lists the assignments at scope, optionally of one assignee
// and role.
func assignments(ctx context.Context, c *mgmtConn, scope, assignee, roleID string) ([]map[string]any, error) {
	p := scope + "/providers/Microsoft.Authorization/roleAssignments"
	if assignee != "" {
		p += "?$filter=" + url.QueryEscape("principalId eq '"+assignee+"'")
	}
	all, err := c.list(ctx, p, authorizationAPI)
	if err != nil || roleID == "" {
		return all, err
	}
	var out []map[string]any
	for _, a := range all {
		props, _ := a["properties"].(map[string]any)
		if rd, _ := props["roleDefinitionId"].(string); strings.EqualFold(lastSegment(rd), lastSegment(roleID)) {
			out = append(out, a)
		}
	}
	return out, nil
}

// flattenAssignments prints ARM role assignments as az role assignment
// list does: the properties at the top level, with principalName and
// roleDefinitionName added.
func flattenAssignments(ctx context.Context, c *mgmtConn, as []map[string]any) []map[string]any {
	out := make([]map[string]any, 0, len(as))
	var ids []string
	roles := map[string]string{}
	for _, a := range as {
		flat := map[string]any{}
		for k, v := range a {
			if k != "properties" {
				flat[k] = v
			}
		}
		props, _ := a["properties"].(map[string]any)
		for k, v := range props {
			flat[k] = v
		}
		id, _ := flat["principalId"].(string)
		ids = append(ids, id)
		rd, _ := flat["roleDefinitionId"].(string)
		if _, ok := roles[rd]; !ok && rd != "" {
			var def struct {
				Properties struct{ RoleName string } `json:"properties"`
			}
			if err := c.call(ctx, "GET", rd, authorizationAPI, nil, &def); err == nil {
				roles[rd] = def.Properties.RoleName
			}
		}
		out = append(out, flat)
	}
	names := lookupPrincipals(ctx, c.sess, ids)
	for _, f := range out {
		id, _ := f["principalId"].(string)
		rd, _ := f["roleDefinitionId"].(string)
		f["principalName"] = names[strings.ToLower(id)].name
		if f["principalType"] == nil || f["principalType"] == "" {
			f["principalType"] = names[strings.ToLower(id)].kind
		}
		f["roleDefinitionName"] = roles[rd]
	}
	return out
}

func lastSegment(id string) string { return id[strings.LastIndex(id, "/")+1:] }

func roleAssignmentListCmd() *cobra.Command {
	var c mgmtConn
	var assignee, role, scope string
	cmd := connCmd(&cobra.Command{Use: "list", Short: "List role assignments at, above and below a scope."}, &c, func(ctx context.Context) error {
		sc, err := scopeOr(&c, scope)
		if err != nil {
			return err
		}
		rid := ""
		if role != "" {
			if rid, err = resolveRole(ctx, &c, sc, role); err != nil {
				return err
			}
		}
		out, err := assignments(ctx, &c, sc, assignee, rid)
		if err != nil {
			return err
		}
		return c.emit(flattenAssignments(ctx, &c, out))
	})
	f := cmd.Flags()
	f.StringVar(&assignee, "assignee", "", "only assignments to this object id")
	f.StringVar(&role, "role", "", "only assignments of this role")
	f.StringVar(&scope, "scope", "", "scope (default: the subscription)")
	return cmd
}

func roleAssignmentDeleteCmd() *cobra.Command {
	var c mgmtConn
	var ids []string
	var assignee, role, scope string
	cmd := connCmd(&cobra.Command{Use: "delete", Short: "Delete role assignments by --ids, or by --assignee/--role at --scope."}, &c, func(ctx context.Context) error {
		if len(ids) == 0 {
			if assignee == "" && role == "" {
				return errors.New("give --ids, or --assignee and/or --role")
			}
			sc, err := scopeOr(&c, scope)
			if err != nil {
				return err
			}
			rid := ""
			if role != "" {
				if rid, err = resolveRole(ctx, &c, sc, role); err != nil {
					return err
				}
			}
			found, err := assignments(ctx, &c, sc, assignee, rid)
			if err != nil {
				return err
			}
			for _, a := range found {
				props, _ := a["properties"].(map[string]any)
				if s, _ := props["scope"].(string); strings.EqualFold(s, sc) {
					id, _ := a["id"].(string)
					ids = append(ids, id)
				}
			}
			if len(ids) == 0 {
				return errors.New("no matching role assignment at that scope")
			}
		}
		for _, id := range ids {
			if err := c.call(ctx, "DELETE", id, authorizationAPI, nil, nil); err != nil {
				return err
			}
		}
		return nil
	})
	f := cmd.Flags()
	f.StringSliceVar(&ids, "ids", nil, "role assignment ids")
	f.StringVar(&assignee, "assignee", "", "object id of the assignee")
	f.StringVar(&role, "role", "", "role name, GUID or id")
	f.StringVar(&scope, "scope", "", "scope (default: the subscription)")
	return cmd
}

func roleDefinitionListCmd() *cobra.Command {
	var c mgmtConn
	var name, scope string
	var customOnly bool
	cmd := connCmd(&cobra.Command{Use: "list", Short: "List role definitions."}, &c, func(ctx context.Context) error {
		sc, err := scopeOr(&c, scope)
		if err != nil {
			return err
		}
		var terms []string
		if name != "" {
			terms = append(terms, "roleName eq '"+name+"'")
		}
		if customOnly {
			terms = append(terms, "type eq 'CustomRole'")
		}
		p := sc + "/providers/Microsoft.Authorization/roleDefinitions"
		if len(terms) > 0 {
			p += "?$filter=" + url.QueryEscape(strings.Join(terms, " and "))
		}
		out, err := c.list(ctx, p, authorizationAPI)
		if err != nil {
			return err
		}
		return c.emit(out)
	})
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "only the role with this name")
	f.StringVar(&scope, "scope", "", "scope (default: the subscription)")
	f.BoolVar(&customOnly, "custom-role-only", false, "only custom roles")
	return cmd
}
