package mgmt

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// TestDiagnosticStorageAccountIsLinkedResource is issue #14.3: a diagnostic
// setting's storageAccountId used to be reduced to its last segment, so
// any id — another tenant's subscription, an account the caller has no
// right on, an operator's real blob destination — routed the HSM's audit
// log into the account of that name. Now the full id resolves: the
// subscription is the caller's tenant's, the caller holds
// Microsoft.Storage/storageAccounts/write there, and the name is bound to
// that id (by the operator, or by its first reference).
func TestDiagnosticStorageAccountIsLinkedResource(t *testing.T) {
	const opsSub = "0b5e4c1a-7d2f-4e8a-9c3b-5a6d7e8f9a01"
	s := testserver.Start(t, func(c *config.Server) {
		c.Audit.Destinations = []string{"operatorblob=local:" + t.TempDir(), "opslogs=local:" + t.TempDir()}
		c.Audit.DestinationScopes = []string{"opslogs=/subscriptions/" + opsSub}
	})
	ctx := context.Background()
	m := s.App.Management()
	dev := armClients(t, s, devCredential(t, s))
	devSub := "/subscriptions/" + s.Dev.SubscriptionID
	hsm := devSub + "/resourceGroups/" + s.Dev.ResourceGroup + "/providers/Microsoft.KeyVault/managedHSMs/dev"
	account := func(sub, rg, name string) string {
		return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/" + name
	}
	put := func(c clients, name, storage string) error {
		_, err := c.diag.CreateOrUpdate(ctx, hsm, name, armmonitor.DiagnosticSettingsResource{Properties: &armmonitor.DiagnosticSettings{
			StorageAccountID: ptr(storage), Logs: []*armmonitor.LogSettings{{Category: ptr("AuditEvent"), Enabled: ptr(true)}}}}, nil)
		return err
	}
	delivered := func(name string) string {
		ds, err := m.Settings(ctx, "dev")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Name == name {
				return d.StorageAccount
			}
		}
		return ""
	}

	// A subscription that does not exist, and one of another tenant: the
	// same 400, so the answer does not tell them apart.
	otherTenantSub := "4f1d2c3b-0000-4000-8000-00000000e7e7"
	if _, err := m.CreateSubscription(ctx, "9c1b2a3d-0000-4000-8000-00000000beef", "other tenant", otherTenantSub); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.PutResourceGroup(ctx, otherTenantSub, "rg", wire.ResourceGroup{Location: "local"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "account in a subscription that does not exist",
		put(dev, "ghost", account("11111111-2222-4333-8444-555555555555", "any", "victimaudit")), 400, "LinkedInvalidPropertyId")
	wantErr(t, "account in another tenant's subscription",
		put(dev, "foreign", account(otherTenantSub, "rg", "victimaudit")), 400, "LinkedInvalidPropertyId")
	wantErr(t, "account in a resource group that does not exist",
		put(dev, "norg", account(s.Dev.SubscriptionID, "nosuchrg", "victimaudit")), 400, "LinkedInvalidPropertyId")

	// An operator destination bound to nothing cannot be named, even by the
	// subscription's Owner; one bound to another subscription neither.
	wantErr(t, "unbound operator destination", put(dev, "opblob", account(s.Dev.SubscriptionID, s.Dev.ResourceGroup, "operatorblob")), 403, "LinkedAuthorizationFailed")
	wantErr(t, "operator destination of another subscription", put(dev, "ops", account(s.Dev.SubscriptionID, s.Dev.ResourceGroup, "opslogs")), 403, "LinkedAuthorizationFailed")
	for _, n := range []string{"ghost", "foreign", "norg", "opblob", "ops"} {
		if a := delivered(n); a != "" {
			t.Fatalf("refused setting %s delivers to %q", n, a)
		}
	}

	// The victim (the dev service principal, Owner of its subscription)
	// uses account victimaudit: the first reference binds the name.
	if err := put(dev, "victim", account(s.Dev.SubscriptionID, s.Dev.ResourceGroup, "victimaudit")); err != nil {
		t.Fatal(err)
	}

	// A low-privilege principal: Managed HSM Contributor on the HSM (which
	// grants diagnostic settings there) and Owner of a subscription of its
	// own, holding no right on the victim's storage.
	mallory := newUser(t, s, "mallory")
	if _, err := assignRole(ctx, dev, hsm, devSub+"/providers/Microsoft.Authorization/roleDefinitions/"+armrbac.RoleManagedHSMContributor,
		mallory.oid, armauthorization.PrincipalTypeUser); err != nil {
		t.Fatal(err)
	}
	own, err := m.CreateSubscription(ctx, s.Dev.TenantID, "mallory's", "", mallory.oid)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.PutResourceGroup(ctx, own.ID, "rg", wire.ResourceGroup{Location: "local"}); err != nil {
		t.Fatal(err)
	}
	mc := armClients(t, s, mallory.cred)
	wantErr(t, "the victim's account by its own id, without storage rights",
		put(mc, "steal", account(s.Dev.SubscriptionID, s.Dev.ResourceGroup, "victimaudit")), 403, "LinkedAuthorizationFailed")
	wantErr(t, "the victim's account name under a subscription mallory owns",
		put(mc, "steal2", account(own.ID, "rg", "victimaudit")), 403, "LinkedAuthorizationFailed")
	wantErr(t, "a fresh account in the dev subscription, without storage rights",
		put(mc, "steal3", account(s.Dev.SubscriptionID, s.Dev.ResourceGroup, "mallorylogs")), 403, "LinkedAuthorizationFailed")
	for _, n := range []string{"steal", "steal2", "steal3"} {
		if a := delivered(n); a != "" {
			t.Fatalf("refused setting %s delivers to %q", n, a)
		}
	}
	// In its own subscription mallory may use an account of its own.
	if err := put(mc, "mine", account(own.ID, "rg", "mallorylogs")); err != nil {
		t.Fatalf("an account in the caller's own subscription: %v", err)
	}
	if a := delivered("mine"); a != "mallorylogs" {
		t.Fatalf("own account delivers to %q", a)
	}
	if a := delivered("victim"); a != "victimaudit" {
		t.Fatalf("the victim's setting delivers to %q", a)
	}

	// The operator's binding makes opslogs usable from its subscription.
	if _, err := m.CreateSubscription(ctx, s.Dev.TenantID, "ops", opsSub, tokenOID(t, mgmtToken(t, s, devCredential(t, s)))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.PutResourceGroup(ctx, opsSub, "logs", wire.ResourceGroup{Location: "local"}); err != nil {
		t.Fatal(err)
	}
	if err := put(dev, "ops", account(opsSub, "logs", "opslogs")); err != nil {
		t.Fatalf("operator destination from its bound subscription: %v", err)
	}
	if a := delivered("ops"); a != "opslogs" {
		t.Fatalf("operator destination delivers to %q", a)
	}
}
