package main

import (
	"context"
	"errors"
	"net/url"

	"github.com/spf13/cobra"
)

// Resource groups, as `az group`.

const resourcesAPI = "2021-04-01"

func groupCmd() *cobra.Command {
	g := &cobra.Command{Use: "group", Short: "Manage resource groups (az group)"}
	g.AddCommand(groupCreateCmd(), groupShowCmd(), groupListCmd(), groupDeleteCmd())
	return g
}

func groupPath(c *mgmtConn, name string) (string, error) {
	sub, err := c.sub()
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", errors.New("--name is required")
	}
	return sub + "/resourcegroups/" + url.PathEscape(name), nil
}

func groupCreateCmd() *cobra.Command {
	var c mgmtConn
	var name, location string
	cmd := connCmd(&cobra.Command{Use: "create", Short: "Create or update a resource group."}, &c, func(ctx context.Context) error {
		p, err := groupPath(&c, name)
		if err != nil {
			return err
		}
		if location == "" {
			return errors.New("--location is required")
		}
		var out any
		if err := c.call(ctx, "PUT", p, resourcesAPI, map[string]any{"location": location}, &out); err != nil {
			return err
		}
		return c.emit(out)
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "resource group name")
	cmd.Flags().StringVarP(&location, "location", "l", "", "location, e.g. local")
	return cmd
}

func groupShowCmd() *cobra.Command {
	var c mgmtConn
	var name string
	cmd := connCmd(&cobra.Command{Use: "show", Short: "Show a resource group."}, &c, func(ctx context.Context) error {
		p, err := groupPath(&c, name)
		if err != nil {
			return err
		}
		var out any
		if err := c.call(ctx, "GET", p, resourcesAPI, nil, &out); err != nil {
			return err
		}
		return c.emit(out)
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "resource group name")
	return cmd
}

func groupListCmd() *cobra.Command {
	var c mgmtConn
	return connCmd(&cobra.Command{Use: "list", Short: "List the resource groups you may read."}, &c, func(ctx context.Context) error {
		sub, err := c.sub()
		if err != nil {
			return err
		}
		out, err := c.list(ctx, sub+"/resourcegroups", resourcesAPI)
		if err != nil {
			return err
		}
		return c.emit(out)
	})
}

func groupDeleteCmd() *cobra.Command {
	var c mgmtConn
	var name string
	var yes bool
	cmd := connCmd(&cobra.Command{Use: "delete", Short: "Delete a resource group and everything in it (its HSMs are soft-deleted)."}, &c, func(ctx context.Context) error {
		p, err := groupPath(&c, name)
		if err != nil {
			return err
		}
		if !yes {
			return errors.New("deleting a resource group deletes its HSMs: confirm with --yes")
		}
		return c.call(ctx, "DELETE", p, resourcesAPI, nil, nil)
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "resource group name")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not prompt for confirmation")
	return cmd
}
