package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/client"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/testserver"
)

// mgmtCLI runs mhsm commands against s as the dev service principal
// (subscription Owner), signed in through a saved profile.
type mgmtCLI struct {
	t *testing.T
	s *testserver.Server
}

func newMgmtCLI(t *testing.T) *mgmtCLI {
	s := testserver.Start(t, nil)
	t.Setenv("MHSM_CONFIG_DIR", t.TempDir())
	t.Setenv("MHSM_CONNECT", s.Addr)
	t.Setenv("MHSM_SUBSCRIPTION", "")
	p := &client.Profile{Authority: s.URL("login"), TenantID: s.Dev.TenantID, Kind: client.KindSecret,
		ClientID: s.Dev.ClientID, Secret: s.Dev.ClientSecret, CAFile: s.Dev.CAFile}
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	return &mgmtCLI{t: t, s: s}
}

func (c *mgmtCLI) run(args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := Run(context.Background(), args, &out, &errb)
	return strings.TrimSpace(out.String()), err
}

func (c *mgmtCLI) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("mhsm %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestManagementCLI walks the seed's management steps with the CLI.
func TestManagementCLI(t *testing.T) {
	c := newMgmtCLI(t)
	ctx := context.Background()
	dir := c.s.App.Directory()
	tid := c.s.Dev.TenantID
	g, err := dir.CreateGroup(ctx, tid, directory.NewGroup{DisplayName: "Contoso Security Team"})
	if err != nil {
		t.Fatal(err)
	}
	lead, err := dir.CreateServicePrincipal(ctx, tid, "security-lead")
	if err != nil {
		t.Fatal(err)
	}
	sub := "/subscriptions/" + c.s.Dev.SubscriptionID
	rg := sub + "/resourceGroups/ContosoAppRG"

	if got := c.must("group", "create", "-n", "ContosoAppRG", "-l", "local", "--query", "id", "-o", "tsv"); got != rg {
		t.Fatalf("group create: %q", got)
	}
	if got := c.must("role", "definition", "list", "--name", "Managed HSM Contributor", "--query", "[].name", "-o", "tsv"); got != "18500a29-7fe2-46b2-a342-b16a415e101d" {
		t.Fatalf("role definition list: %q", got)
	}
	c.must("role", "assignment", "create", "--assignee-object-id", g.ID, "--assignee-principal-type", "Group", "--role", "Managed HSM Contributor", "--scope", rg)
	if got := c.must("role", "assignment", "list", "--scope", rg, "--assignee", g.ID, "--query", "[].scope", "-o", "tsv"); got != rg {
		t.Fatalf("role assignment list: %q", got)
	}
	// Flattened as az prints it: the principal and the role named.
	if got := c.must("role", "assignment", "list", "--scope", rg, "--assignee", g.ID, "--query", "[].[principalName, principalType, roleDefinitionName]", "-o", "tsv"); got != "Contoso Security Team\tGroup\tManaged HSM contributor" {
		t.Fatalf("role assignment list, flattened: %q", got)
	}
	if _, err := c.run("role", "assignment", "create", "--assignee-object-id", g.ID, "--assignee-principal-type", "User", "--role", "Reader", "--scope", rg); err == nil ||
		!strings.Contains(err.Error(), "UnmatchedPrincipalType") {
		t.Fatalf("wrong principal type: %v", err)
	}

	if got := c.must("keyvault", "create", "--hsm-name", "ContosoMHSM", "--resource-group", "ContosoAppRG", "--administrators", lead.ObjectID, g.ID,
		"--retention-days", "7", "--query", "properties.provisioningState", "-o", "tsv"); got != "Succeeded" {
		t.Fatalf("keyvault create: %q", got)
	}
	id := c.must("keyvault", "show", "--hsm-name", "ContosoMHSM", "--query", "id", "-o", "tsv")
	if id != rg+"/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM" {
		t.Fatalf("keyvault show: %q", id)
	}
	if got := c.must("keyvault", "show", "--hsm-name", "ContosoMHSM", "--query", "properties.initialAdminObjectIds", "-o", "tsv"); !strings.Contains(got, lead.ObjectID) || !strings.Contains(got, g.ID) {
		t.Fatalf("administrators: %q", got)
	}
	if got := c.must("keyvault", "list", "--resource-group", "ContosoAppRG", "--query", "[].name", "-o", "tsv"); got != "ContosoMHSM" {
		t.Fatalf("keyvault list: %q", got)
	}
	storage := rg + "/providers/Microsoft.Storage/storageAccounts/contosologstorage"
	c.must("monitor", "diagnostic-settings", "create", "--name", "MHSM-Diagnostics", "--resource", id,
		"--logs", `[{"category": "AuditEvent","enabled": true}]`, "--storage-account", storage)
	if got := c.must("monitor", "diagnostic-settings", "list", "--resource", id, "--query", "[].properties.storageAccountId", "-o", "tsv"); got != storage {
		t.Fatalf("diagnostic-settings list: %q", got)
	}
	c.must("monitor", "diagnostic-settings", "delete", "--name", "MHSM-Diagnostics", "--resource", id)
	if got := c.must("keyvault", "update", "--hsm-name", "ContosoMHSM", "--default-action", "Deny", "--ip-rules", "10.0.0.0/8", "192.0.2.1",
		"--query", "properties.networkAcls.ipRules[].value", "-o", "tsv"); got != "10.0.0.0/8\n192.0.2.1" {
		t.Fatalf("keyvault update: %q", got)
	}

	c.must("keyvault", "delete", "--hsm-name", "ContosoMHSM")
	if got := c.must("keyvault", "list-deleted", "--query", "[].name", "-o", "tsv"); got != "ContosoMHSM" {
		t.Fatalf("list-deleted: %q", got)
	}
	if _, err := c.run("keyvault", "create", "--hsm-name", "ContosoMHSM", "--resource-group", "ContosoAppRG", "--administrators", lead.ObjectID); err == nil {
		t.Fatal("re-created a soft-deleted name")
	}
	if got := c.must("keyvault", "recover", "--hsm-name", "ContosoMHSM", "--location", "local", "--query", "properties.provisioningState", "-o", "tsv"); got != "Succeeded" {
		t.Fatalf("recover: %q", got)
	}
	c.must("keyvault", "update", "--hsm-name", "ContosoMHSM", "--enable-purge-protection")
	c.must("keyvault", "delete", "--hsm-name", "ContosoMHSM")
	if _, err := c.run("keyvault", "purge", "--hsm-name", "ContosoMHSM", "--location", "local"); err == nil || !strings.Contains(err.Error(), "purge protection") {
		t.Fatalf("purge under purge protection: %v", err)
	}

	c.must("role", "assignment", "delete", "--assignee", g.ID, "--role", "Managed HSM Contributor", "--scope", rg)
	if got := c.must("role", "assignment", "list", "--scope", rg, "--assignee", g.ID, "-o", "json"); got != "[]" {
		t.Fatalf("after delete: %q", got)
	}
	c.must("keyvault", "create", "--hsm-name", "Second", "--resource-group", "ContosoAppRG", "--administrators", lead.ObjectID, "--retention-days", "7")
	c.must("keyvault", "delete", "--hsm-name", "Second")
	c.must("keyvault", "purge", "--hsm-name", "Second", "--location", "local")
	if got := c.must("keyvault", "list-deleted", "--query", "[].name", "-o", "tsv"); got != "ContosoMHSM" {
		t.Fatalf("after purge: %q", got)
	}
}
