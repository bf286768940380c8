package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/client"
)

// mhsm ad …: the directory through Graph, named as az ad's commands.

type gobj = map[string]any

// graphCmd builds a leaf command that opens the session, runs fn and
// prints its result.
func graphCmd(use, short string, setup func(*cobra.Command), fn func(ctx context.Context, s *client.Session) (any, error)) *cobra.Command {
	var out output
	var cf connFlags
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cf.session(nil)
			if err != nil {
				return err
			}
			v, err := fn(cmd.Context(), s)
			if err != nil || v == nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), v)
		}}
	if setup != nil {
		setup(cmd)
	}
	cf.bind(cmd, false)
	out.bind(cmd)
	return cmd
}

// list returns a Graph collection's value, optionally filtered.
func list(ctx context.Context, s *client.Session, path, filter string) ([]any, error) {
	if filter != "" {
		path += "?$filter=" + url.QueryEscape(filter)
	}
	var r struct {
		Value []any `json:"value"`
	}
	if err := s.Graph(ctx, "GET", path, nil, &r); err != nil {
		return nil, err
	}
	if r.Value == nil {
		r.Value = []any{}
	}
	return r.Value, nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func get(ctx context.Context, s *client.Session, path string) (any, error) {
	var v gobj
	if err := s.Graph(ctx, "GET", path, nil, &v); err != nil {
		return nil, err
	}
	delete(v, "@odata.context")
	return v, nil
}

// groupID resolves a group's object id or display name (which must then
// be unique).
func groupID(ctx context.Context, s *client.Session, g string) (string, error) {
	if _, err := uuid.Parse(g); err == nil {
		return g, nil
	}
	gs, err := list(ctx, s, "/v1.0/groups", "displayName eq "+quote(g))
	if err != nil {
		return "", err
	}
	switch len(gs) {
	case 0:
		return "", fmt.Errorf("no group named %q", g)
	case 1:
		return gs[0].(gobj)["id"].(string), nil
	}
	return "", fmt.Errorf("more than one group is named %q: use its object id", g)
}

func adCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ad", Short: "Manage the directory: users, groups, applications, service principals (az ad …)"}
	cmd.AddCommand(adUserCmd(), adGroupCmd(), adAppCmd(), adSPCmd())
	return cmd
}

func adUserCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Users"}
	var name, upn, password, id string
	var enabled bool
	cmd.AddCommand(
		graphCmd("create", "Create a user.", func(c *cobra.Command) {
			c.Flags().StringVar(&name, "display-name", "", "display name")
			c.Flags().StringVar(&upn, "user-principal-name", "", "user principal name, name@<verified domain>")
			c.Flags().StringVar(&password, "password", "", "password")
			_ = c.MarkFlagRequired("display-name")
			_ = c.MarkFlagRequired("user-principal-name")
			_ = c.MarkFlagRequired("password")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			nick, _, _ := strings.Cut(upn, "@")
			var v gobj
			err := s.Graph(ctx, "POST", "/v1.0/users", gobj{"accountEnabled": true, "displayName": name, "mailNickname": nick,
				"userPrincipalName": upn, "passwordProfile": gobj{"password": password, "forceChangePasswordNextSignIn": false}}, &v)
			delete(v, "@odata.context")
			return v, err
		}),
		graphCmd("show", "Show a user.", func(c *cobra.Command) {
			c.Flags().StringVar(&id, "id", "", "object id or user principal name")
			_ = c.MarkFlagRequired("id")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			return get(ctx, s, "/v1.0/users/"+url.PathEscape(id))
		}),
		graphCmd("list", "List users.", func(c *cobra.Command) {
			c.Flags().StringVar(&name, "display-name", "", "only users with this display name")
			c.Flags().StringVar(&upn, "upn", "", "only the user with this user principal name")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			var f []string
			if name != "" {
				f = append(f, "displayName eq "+quote(name))
			}
			if upn != "" {
				f = append(f, "userPrincipalName eq "+quote(upn))
			}
			return list(ctx, s, "/v1.0/users", strings.Join(f, " and "))
		}),
		graphCmd("update", "Enable or disable a user, or set its password.", func(c *cobra.Command) {
			c.Flags().StringVar(&id, "id", "", "object id or user principal name")
			c.Flags().BoolVar(&enabled, "account-enabled", true, "whether the user may sign in")
			c.Flags().StringVar(&password, "password", "", "new password")
			_ = c.MarkFlagRequired("id")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			body := gobj{"accountEnabled": enabled}
			if password != "" {
				body["passwordProfile"] = gobj{"password": password}
			}
			return nil, s.Graph(ctx, "PATCH", "/v1.0/users/"+url.PathEscape(id), body, nil)
		}),
		graphCmd("delete", "Delete a user.", func(c *cobra.Command) {
			c.Flags().StringVar(&id, "id", "", "object id or user principal name")
			_ = c.MarkFlagRequired("id")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			return nil, s.Graph(ctx, "DELETE", "/v1.0/users/"+url.PathEscape(id), nil, nil)
		}),
	)
	return cmd
}

func adGroupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Security groups"}
	var name, nick, desc, group, member string
	groupFlag := func(c *cobra.Command) {
		c.Flags().StringVarP(&group, "group", "g", "", "group object id or display name")
		_ = c.MarkFlagRequired("group")
	}
	cmd.AddCommand(
		graphCmd("create", "Create a security group.", func(c *cobra.Command) {
			c.Flags().StringVar(&name, "display-name", "", "display name")
			c.Flags().StringVar(&nick, "mail-nickname", "", "mail nickname")
			c.Flags().StringVar(&desc, "description", "", "description")
			_ = c.MarkFlagRequired("display-name")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			if nick == "" {
				nick = strings.ReplaceAll(name, " ", "")
			}
			var v gobj
			err := s.Graph(ctx, "POST", "/v1.0/groups", gobj{"displayName": name, "mailNickname": nick, "description": desc,
				"securityEnabled": true, "mailEnabled": false}, &v)
			delete(v, "@odata.context")
			return v, err
		}),
		graphCmd("show", "Show a group.", groupFlag, func(ctx context.Context, s *client.Session) (any, error) {
			id, err := groupID(ctx, s, group)
			if err != nil {
				return nil, err
			}
			return get(ctx, s, "/v1.0/groups/"+id)
		}),
		graphCmd("list", "List groups.", func(c *cobra.Command) {
			c.Flags().StringVar(&name, "display-name", "", "only groups with this display name")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			f := ""
			if name != "" {
				f = "displayName eq " + quote(name)
			}
			return list(ctx, s, "/v1.0/groups", f)
		}),
		graphCmd("delete", "Delete a group.", groupFlag, func(ctx context.Context, s *client.Session) (any, error) {
			id, err := groupID(ctx, s, group)
			if err != nil {
				return nil, err
			}
			return nil, s.Graph(ctx, "DELETE", "/v1.0/groups/"+id, nil, nil)
		}),
	)
	mem := &cobra.Command{Use: "member", Short: "Group members"}
	memberFlags := func(c *cobra.Command) {
		groupFlag(c)
		c.Flags().StringVar(&member, "member-id", "", "object id of the user, group or service principal")
		_ = c.MarkFlagRequired("member-id")
	}
	mem.AddCommand(
		graphCmd("add", "Add a member.", memberFlags, func(ctx context.Context, s *client.Session) (any, error) {
			id, err := groupID(ctx, s, group)
			if err != nil {
				return nil, err
			}
			base, _ := s.Profile.ResourceURL("graph")
			return nil, s.Graph(ctx, "POST", "/v1.0/groups/"+id+"/members/$ref", gobj{"@odata.id": base + "/v1.0/directoryObjects/" + member}, nil)
		}),
		graphCmd("remove", "Remove a member.", memberFlags, func(ctx context.Context, s *client.Session) (any, error) {
			id, err := groupID(ctx, s, group)
			if err != nil {
				return nil, err
			}
			return nil, s.Graph(ctx, "DELETE", "/v1.0/groups/"+id+"/members/"+url.PathEscape(member)+"/$ref", nil, nil)
		}),
		graphCmd("list", "List direct members.", groupFlag, func(ctx context.Context, s *client.Session) (any, error) {
			id, err := groupID(ctx, s, group)
			if err != nil {
				return nil, err
			}
			return list(ctx, s, "/v1.0/groups/"+id+"/members", "")
		}),
	)
	cmd.AddCommand(mem)
	return cmd
}

func adAppCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Application registrations"}
	var name, id string
	var public bool
	var years int
	idFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&id, "id", "", "appId or object id")
		_ = c.MarkFlagRequired("id")
	}
	cmd.AddCommand(
		graphCmd("create", "Register an application.", func(c *cobra.Command) {
			c.Flags().StringVar(&name, "display-name", "", "display name")
			c.Flags().BoolVar(&public, "is-fallback-public-client", false, "let users sign in through it with a password (public client)")
			_ = c.MarkFlagRequired("display-name")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			var v gobj
			err := s.Graph(ctx, "POST", "/v1.0/applications", gobj{"displayName": name, "isFallbackPublicClient": public}, &v)
			delete(v, "@odata.context")
			return v, err
		}),
		graphCmd("show", "Show an application.", idFlag, func(ctx context.Context, s *client.Session) (any, error) {
			return get(ctx, s, "/v1.0/applications/"+url.PathEscape(id))
		}),
		graphCmd("list", "List applications.", func(c *cobra.Command) {
			c.Flags().StringVar(&name, "display-name", "", "only applications with this display name")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			f := ""
			if name != "" {
				f = "displayName eq " + quote(name)
			}
			return list(ctx, s, "/v1.0/applications", f)
		}),
		graphCmd("delete", "Delete an application and its service principal.", idFlag, func(ctx context.Context, s *client.Session) (any, error) {
			return nil, s.Graph(ctx, "DELETE", "/v1.0/applications/"+url.PathEscape(id), nil, nil)
		}),
	)
	cred := &cobra.Command{Use: "credential", Short: "Application credentials"}
	cred.AddCommand(graphCmd("reset", "Add a client secret (shown once).", func(c *cobra.Command) {
		idFlag(c)
		c.Flags().IntVar(&years, "years", 1, "years the secret is valid")
	}, func(ctx context.Context, s *client.Session) (any, error) {
		return addSecret(ctx, s, id, years)
	}))
	cmd.AddCommand(cred)
	return cmd
}

// addSecret adds a client secret and returns az's credential reset shape.
func addSecret(ctx context.Context, s *client.Session, appID string, years int) (any, error) {
	var pc gobj
	end := time.Now().AddDate(years, 0, 0).UTC().Format(time.RFC3339)
	if err := s.Graph(ctx, "POST", "/v1.0/applications/"+url.PathEscape(appID)+"/addPassword",
		gobj{"passwordCredential": gobj{"displayName": "mhsm", "endDateTime": end}}, &pc); err != nil {
		return nil, err
	}
	var app gobj
	if err := s.Graph(ctx, "GET", "/v1.0/applications/"+url.PathEscape(appID), nil, &app); err != nil {
		return nil, err
	}
	return gobj{"appId": app["appId"], "password": pc["secretText"], "tenant": s.Profile.TenantID}, nil
}

func adSPCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sp", Short: "Service principals"}
	var id, name string
	var years int
	idFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&id, "id", "", "appId or object id")
		_ = c.MarkFlagRequired("id")
	}
	cmd.AddCommand(
		graphCmd("create", "Create the service principal of an application.", idFlag, func(ctx context.Context, s *client.Session) (any, error) {
			var app gobj
			if err := s.Graph(ctx, "GET", "/v1.0/applications/"+url.PathEscape(id), nil, &app); err != nil {
				return nil, err
			}
			var v gobj
			err := s.Graph(ctx, "POST", "/v1.0/servicePrincipals", gobj{"appId": app["appId"]}, &v)
			delete(v, "@odata.context")
			return v, err
		}),
		graphCmd("create-for-rbac", "Register an application with a service principal and a client secret.", func(c *cobra.Command) {
			c.Flags().StringVarP(&name, "name", "n", "", "display name")
			c.Flags().IntVar(&years, "years", 1, "years the secret is valid")
			_ = c.MarkFlagRequired("name")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			var app gobj
			if err := s.Graph(ctx, "POST", "/v1.0/applications", gobj{"displayName": name}, &app); err != nil {
				return nil, err
			}
			var sp gobj
			if err := s.Graph(ctx, "POST", "/v1.0/servicePrincipals", gobj{"appId": app["appId"]}, &sp); err != nil {
				return nil, err
			}
			out, err := addSecret(ctx, s, app["appId"].(string), years)
			if err != nil {
				return nil, err
			}
			out.(gobj)["displayName"] = name
			out.(gobj)["objectId"] = sp["id"]
			return out, nil
		}),
		graphCmd("show", "Show a service principal.", idFlag, func(ctx context.Context, s *client.Session) (any, error) {
			return get(ctx, s, "/v1.0/servicePrincipals/"+url.PathEscape(id))
		}),
		graphCmd("list", "List service principals.", func(c *cobra.Command) {
			c.Flags().StringVar(&name, "display-name", "", "only service principals with this display name")
		}, func(ctx context.Context, s *client.Session) (any, error) {
			f := ""
			if name != "" {
				f = "displayName eq " + quote(name)
			}
			return list(ctx, s, "/v1.0/servicePrincipals", f)
		}),
		graphCmd("delete", "Delete a service principal (the application stays).", idFlag, func(ctx context.Context, s *client.Session) (any, error) {
			return nil, s.Graph(ctx, "DELETE", "/v1.0/servicePrincipals/"+url.PathEscape(id), nil, nil)
		}),
	)
	return cmd
}
