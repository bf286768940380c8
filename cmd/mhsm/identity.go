package main

import (
	"context"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/client"
)

// mhsm identity …: user-assigned managed identities (an mhsm extension of
// Graph, /mhsm/managedIdentities), as az identity's commands.

func identityCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "User-assigned managed identities"}
	var name string
	nameFlag := func(c *cobra.Command) {
		c.Flags().StringVarP(&name, "name", "n", "", "identity name")
		_ = c.MarkFlagRequired("name")
	}
	cmd.AddCommand(
		graphCmd("create", "Create a managed identity; prints its identity header once.", nameFlag, func(ctx context.Context, s *client.Session) (any, error) {
			var v gobj
			err := s.Graph(ctx, "POST", "/mhsm/managedIdentities", gobj{"name": name}, &v)
			return v, err
		}),
		graphCmd("show", "Show a managed identity.", nameFlag, func(ctx context.Context, s *client.Session) (any, error) {
			return get(ctx, s, "/mhsm/managedIdentities/"+url.PathEscape(name))
		}),
		graphCmd("list", "List managed identities.", nil, func(ctx context.Context, s *client.Session) (any, error) {
			return list(ctx, s, "/mhsm/managedIdentities", "")
		}),
		graphCmd("delete", "Delete a managed identity.", nameFlag, func(ctx context.Context, s *client.Session) (any, error) {
			return nil, s.Graph(ctx, "DELETE", "/mhsm/managedIdentities/"+url.PathEscape(name), nil, nil)
		}),
		graphCmd("reset-header", "Replace the identity header (the old one stops working); prints it once.", nameFlag, func(ctx context.Context, s *client.Session) (any, error) {
			var v gobj
			err := s.Graph(ctx, "POST", "/mhsm/managedIdentities/"+url.PathEscape(name)+"/resetHeader", nil, &v)
			return v, err
		}),
	)
	return cmd
}
