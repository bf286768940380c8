package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// Diagnostic settings, as `az monitor diagnostic-settings`: turn on an
// HSM's audit logging to a storage account.

const insightsAPI = "2021-05-01-preview"

func monitorCmd() *cobra.Command {
	m := &cobra.Command{Use: "monitor", Short: "Monitoring (az monitor)"}
	d := &cobra.Command{Use: "diagnostic-settings", Short: "Manage diagnostic settings: where a resource's logs go"}
	d.AddCommand(diagCreateCmd(), diagShowCmd(), diagListCmd(), diagDeleteCmd())
	m.AddCommand(d)
	return m
}

func diagPath(resource, name string) (string, error) {
	if resource == "" {
		return "", errors.New("--resource (the HSM's id) is required")
	}
	p := "/" + strings.Trim(resource, "/") + "/providers/Microsoft.Insights/diagnosticSettings"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p, nil
}

func diagCreateCmd() *cobra.Command {
	var c mgmtConn
	var name, resource, logs, metrics, storage string
	cmd := connCmd(&cobra.Command{Use: "create", Short: "Create or update a diagnostic setting."}, &c, func(ctx context.Context) error {
		if name == "" || logs == "" || storage == "" {
			return errors.New("--name, --logs and --storage-account are required")
		}
		p, err := diagPath(resource, name)
		if err != nil {
			return err
		}
		props := map[string]any{"storageAccountId": storage}
		var l any
		if err := json.Unmarshal([]byte(logs), &l); err != nil {
			return errors.New(`--logs must be JSON, e.g. '[{"category": "AuditEvent", "enabled": true}]'`)
		}
		props["logs"] = l
		if metrics != "" {
			var m any
			if err := json.Unmarshal([]byte(metrics), &m); err != nil {
				return errors.New("--metrics must be JSON")
			}
			props["metrics"] = m
		}
		var out any
		if err := c.call(ctx, "PUT", p, insightsAPI, map[string]any{"properties": props}, &out); err != nil {
			return err
		}
		return c.emit(out)
	})
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "name of the setting")
	f.StringVar(&resource, "resource", "", "id of the HSM")
	f.StringVar(&logs, "logs", "", `JSON list of log settings, e.g. '[{"category": "AuditEvent", "enabled": true}]'`)
	f.StringVar(&metrics, "metrics", "", "JSON list of metric settings")
	f.StringVar(&storage, "storage-account", "", "id of the storage account that receives the logs")
	return cmd
}

func diagShowCmd() *cobra.Command {
	var c mgmtConn
	var name, resource string
	cmd := connCmd(&cobra.Command{Use: "show", Short: "Show a diagnostic setting."}, &c, func(ctx context.Context) error {
		p, err := diagPath(resource, name)
		if err != nil || name == "" {
			return errors.Join(err, errors.New("--name and --resource are required"))
		}
		var out any
		if err := c.call(ctx, "GET", p, insightsAPI, nil, &out); err != nil {
			return err
		}
		return c.emit(out)
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the setting")
	cmd.Flags().StringVar(&resource, "resource", "", "id of the HSM")
	return cmd
}

func diagListCmd() *cobra.Command {
	var c mgmtConn
	var resource string
	cmd := connCmd(&cobra.Command{Use: "list", Short: "List a resource's diagnostic settings."}, &c, func(ctx context.Context) error {
		p, err := diagPath(resource, "")
		if err != nil {
			return err
		}
		out, err := c.list(ctx, p, insightsAPI)
		if err != nil {
			return err
		}
		return c.emit(out)
	})
	cmd.Flags().StringVar(&resource, "resource", "", "id of the HSM")
	return cmd
}

func diagDeleteCmd() *cobra.Command {
	var c mgmtConn
	var name, resource string
	cmd := connCmd(&cobra.Command{Use: "delete", Short: "Delete a diagnostic setting."}, &c, func(ctx context.Context) error {
		if name == "" {
			return errors.New("--name is required")
		}
		p, err := diagPath(resource, name)
		if err != nil {
			return err
		}
		err = c.call(ctx, "DELETE", p, insightsAPI, nil, nil)
		return err
	})
	cmd.Flags().StringVarP(&name, "name", "n", "", "name of the setting")
	cmd.Flags().StringVar(&resource, "resource", "", "id of the HSM")
	return cmd
}
