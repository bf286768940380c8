package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// Managed HSM resources, as `az keyvault create|show|list|update-hsm|
// delete|purge|list-deleted|recover --hsm-name`: the management side of
// the keyvault group (security-domain commands are in securitydomain.go).

const keyVaultAPI = "2023-07-01"

// keyvaultHSMCmds are added to the keyvault command group.
func keyvaultHSMCmds() []*cobra.Command {
	return []*cobra.Command{kvCreateCmd(), kvShowCmd(), kvListCmd(), kvUpdateCmd(), kvDeleteCmd(), kvPurgeCmd(), kvListDeletedCmd(), kvRecoverCmd()}
}

// hsmPath is the HSM's resource id; without --resource-group the HSM is
// looked up in the subscription, as az does.
func hsmPath(ctx context.Context, c *mgmtConn, name, rg string) (string, error) {
	sub, err := c.sub()
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", errors.New("--hsm-name is required")
	}
	if rg != "" {
		return sub + "/resourceGroups/" + url.PathEscape(rg) + "/providers/Microsoft.KeyVault/managedHSMs/" + url.PathEscape(name), nil
	}
	all, err := c.list(ctx, sub+"/providers/Microsoft.KeyVault/managedHSMs", keyVaultAPI)
	if err != nil {
		return "", err
	}
	for _, h := range all {
		if n, _ := h["name"].(string); strings.EqualFold(n, name) {
			id, _ := h["id"].(string)
			return id, nil
		}
	}
	return "", fmt.Errorf("managed HSM %q not found in subscription %s (or you may not read it)", name, c.subscription)
}

func kvCreateCmd() *cobra.Command {
	var c mgmtConn
	var name, rg, location, sku, network string
	var admins []string
	var days int
	var purgeProtection, noWait bool
	cmd := connCmd(&cobra.Command{Use: "create", Short: "Create a managed HSM (not activated until its security domain is downloaded)."}, &c, func(ctx context.Context) error {
		if rg == "" {
			return errors.New("--resource-group is required")
		}
		if len(admins) == 0 {
			return errors.New("--administrators is required: the object ids of the HSM's initial administrators")
		}
		p, err := hsmPath(ctx, &c, name, rg)
		if err != nil {
			return err
		}
		if location == "" {
			var g struct{ Location string }
			gp, _ := groupPath(&c, rg)
			if err := c.call(ctx, "GET", gp, resourcesAPI, nil, &g); err != nil {
				return err
			}
			location = g.Location
		}
		var subscription struct{ TenantID string }
		sub, _ := c.sub()
		if err := c.call(ctx, "GET", sub, resourcesAPI, nil, &subscription); err != nil {
			return err
		}
		tenant := subscription.TenantID
		body := map[string]any{
			"location": location,
			"sku":      map[string]string{"family": "B", "name": sku},
			"properties": map[string]any{
				"tenantId": tenant, "initialAdminObjectIds": admins, "enableSoftDelete": true,
				"softDeleteRetentionInDays": days, "enablePurgeProtection": purgeProtection, "publicNetworkAccess": network,
			},
		}
		var out any
		if err := c.call(ctx, "PUT", p, keyVaultAPI, body, &out); err != nil {
			return err
		}
		if !noWait {
			r, err := c.waitProvisioned(ctx, p, keyVaultAPI)
			if err != nil {
				return err
			}
			out = r
		}
		return c.emit(out)
	})
	f := cmd.Flags()
	f.StringVar(&name, "hsm-name", "", "name of the HSM (3-24 letters, digits and hyphens)")
	f.StringVarP(&rg, "resource-group", "g", "", "resource group")
	f.StringVarP(&location, "location", "l", "", "location (default: the resource group's)")
	f.StringSliceVar(&admins, "administrators", nil, "object ids of the initial administrators (space-separated)")
	f.IntVar(&days, "retention-days", 90, "soft-delete retention in days (7-90)")
	f.BoolVar(&purgeProtection, "enable-purge-protection", false, "forbid purging before the retention ends (irreversible)")
	f.StringVar(&network, "public-network-access", "Enabled", "Enabled or Disabled")
	f.StringVar(&sku, "sku", "Standard_B1", "SKU name")
	f.BoolVar(&noWait, "no-wait", false, "do not wait for provisioning to finish")
	return cmd
}

func kvShowCmd() *cobra.Command {
	var c mgmtConn
	var name, rg string
	cmd := connCmd(&cobra.Command{Use: "show", Short: "Show a managed HSM."}, &c, func(ctx context.Context) error {
		p, err := hsmPath(ctx, &c, name, rg)
		if err != nil {
			return err
		}
		var out any
		if err := c.call(ctx, "GET", p, keyVaultAPI, nil, &out); err != nil {
			return err
		}
		return c.emit(out)
	})
	cmd.Flags().StringVar(&name, "hsm-name", "", "name of the HSM")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: found in the subscription)")
	return cmd
}

func kvListCmd() *cobra.Command {
	var c mgmtConn
	var rg, rtype string
	cmd := connCmd(&cobra.Command{Use: "list", Short: "List the managed HSMs you may read."}, &c, func(ctx context.Context) error {
		sub, err := c.sub()
		if err != nil {
			return err
		}
		p := sub + "/providers/Microsoft.KeyVault/managedHSMs"
		if rg != "" {
			p = sub + "/resourceGroups/" + url.PathEscape(rg) + "/providers/Microsoft.KeyVault/managedHSMs"
		}
		out, err := c.list(ctx, p, keyVaultAPI)
		if err != nil {
			return err
		}
		return c.emit(out)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: the whole subscription)")
	cmd.Flags().StringVar(&rtype, "resource-type", "hsm", "hsm (vaults are not served)")
	return cmd
}

func kvUpdateCmd() *cobra.Command {
	var c mgmtConn
	var name, rg, network, defaultAction, bypass string
	var ipRules []string
	var purgeProtection bool
	cmd := connCmd(&cobra.Command{Use: "update", Aliases: []string{"update-hsm"}, Short: "Update a managed HSM: purge protection, network access, firewall rules."}, &c, func(ctx context.Context) error {
		p, err := hsmPath(ctx, &c, name, rg)
		if err != nil {
			return err
		}
		props := map[string]any{}
		if purgeProtection {
			props["enablePurgeProtection"] = true
		}
		if network != "" {
			props["publicNetworkAccess"] = network
		}
		if defaultAction != "" || bypass != "" || ipRules != nil {
			acls := map[string]any{}
			if defaultAction != "" {
				acls["defaultAction"] = defaultAction
			}
			if bypass != "" {
				acls["bypass"] = bypass
			}
			rules := []map[string]string{}
			for _, r := range ipRules {
				rules = append(rules, map[string]string{"value": r})
			}
			acls["ipRules"] = rules
			props["networkAcls"] = acls
		}
		var out any
		if err := c.call(ctx, "PATCH", p, keyVaultAPI, map[string]any{"properties": props}, &out); err != nil {
			return err
		}
		return c.emit(out)
	})
	f := cmd.Flags()
	f.StringVar(&name, "hsm-name", "", "name of the HSM")
	f.StringVarP(&rg, "resource-group", "g", "", "resource group (default: found in the subscription)")
	f.BoolVar(&purgeProtection, "enable-purge-protection", false, "turn purge protection on (irreversible)")
	f.StringVar(&network, "public-network-access", "", "Enabled or Disabled")
	f.StringVar(&defaultAction, "default-action", "", "firewall default action: Allow or Deny")
	f.StringVar(&bypass, "bypass", "", "AzureServices or None")
	f.StringSliceVar(&ipRules, "ip-rules", nil, "IPv4 addresses or CIDR ranges the firewall admits (replaces the list)")
	return cmd
}

func kvDeleteCmd() *cobra.Command {
	var c mgmtConn
	var name, rg string
	cmd := connCmd(&cobra.Command{Use: "delete", Short: "Delete (soft-delete) a managed HSM; it stays recoverable until purged."}, &c, func(ctx context.Context) error {
		p, err := hsmPath(ctx, &c, name, rg)
		if err != nil {
			return err
		}
		return c.call(ctx, "DELETE", p, keyVaultAPI, nil, nil)
	})
	cmd.Flags().StringVar(&name, "hsm-name", "", "name of the HSM")
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "resource group (default: found in the subscription)")
	return cmd
}

func deletedPath(c *mgmtConn, name, location string) (string, error) {
	sub, err := c.sub()
	if err != nil {
		return "", err
	}
	if name == "" || location == "" {
		return "", errors.New("--hsm-name and --location are required")
	}
	return sub + "/providers/Microsoft.KeyVault/locations/" + url.PathEscape(location) + "/deletedManagedHSMs/" + url.PathEscape(name), nil
}

func kvPurgeCmd() *cobra.Command {
	var c mgmtConn
	var name, location string
	cmd := connCmd(&cobra.Command{Use: "purge", Short: "Permanently destroy a soft-deleted managed HSM (refused under purge protection)."}, &c, func(ctx context.Context) error {
		p, err := deletedPath(&c, name, location)
		if err != nil {
			return err
		}
		return c.call(ctx, "POST", p+"/purge", keyVaultAPI, nil, nil)
	})
	cmd.Flags().StringVar(&name, "hsm-name", "", "name of the deleted HSM")
	cmd.Flags().StringVarP(&location, "location", "l", "", "location of the deleted HSM")
	return cmd
}

func kvListDeletedCmd() *cobra.Command {
	var c mgmtConn
	var rtype string
	cmd := connCmd(&cobra.Command{Use: "list-deleted", Short: "List soft-deleted managed HSMs."}, &c, func(ctx context.Context) error {
		sub, err := c.sub()
		if err != nil {
			return err
		}
		out, err := c.list(ctx, sub+"/providers/Microsoft.KeyVault/deletedManagedHSMs", keyVaultAPI)
		if err != nil {
			return err
		}
		return c.emit(out)
	})
	cmd.Flags().StringVar(&rtype, "resource-type", "hsm", "hsm (vaults are not served)")
	return cmd
}

func kvRecoverCmd() *cobra.Command {
	var c mgmtConn
	var name, location string
	cmd := connCmd(&cobra.Command{Use: "recover", Short: "Recover a soft-deleted managed HSM into the resource group it was deleted from."}, &c, func(ctx context.Context) error {
		p, err := deletedPath(&c, name, location)
		if err != nil {
			return err
		}
		var d struct {
			Properties struct{ MhsmID string } `json:"properties"`
		}
		if err := c.call(ctx, "GET", p, keyVaultAPI, nil, &d); err != nil {
			return err
		}
		body := map[string]any{"location": location, "properties": map[string]any{"createMode": "recover"}}
		if err := c.call(ctx, "PUT", d.Properties.MhsmID, keyVaultAPI, body, nil); err != nil {
			return err
		}
		out, err := c.waitProvisioned(ctx, d.Properties.MhsmID, keyVaultAPI)
		if err != nil {
			return err
		}
		return c.emit(out)
	})
	cmd.Flags().StringVar(&name, "hsm-name", "", "name of the deleted HSM")
	cmd.Flags().StringVarP(&location, "location", "l", "", "location of the deleted HSM")
	return cmd
}
