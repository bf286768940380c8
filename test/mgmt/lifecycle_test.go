package mgmt

import (
	"context"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/mhsm/mhsm/internal/testserver"
)

func TestDevSubscription(t *testing.T) {
	s := testserver.Start(t, nil)
	if s.Dev.SubscriptionID == "" || s.Dev.ResourceGroup != "mhsm-dev" {
		t.Fatalf("dev.json lacks the dev subscription: %+v", s.Dev)
	}
	c := armClients(t, s, devCredential(t, s))
	ctx := context.Background()
	h, err := c.hsms.Get(ctx, s.Dev.ResourceGroup, "dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := h.Properties
	if *p.ProvisioningState != armkeyvault.ProvisioningStateSucceeded || *p.SecurityDomainProperties.ActivationStatus != armkeyvault.ActivationStatusActive ||
		*p.HsmURI != s.HSMURL("dev")+"/" || *p.TenantID != s.Dev.TenantID {
		t.Fatalf("dev HSM resource: %+v", p)
	}
	// GET /subscriptions is what `az login` reads.
	tok := mgmtToken(t, s, devCredential(t, s))
	st, b, err := s.Call(tok, "GET", s.URL("management")+"/subscriptions?api-version=2019-11-01", nil)
	if err != nil || st != 200 || !strings.Contains(string(b), s.Dev.SubscriptionID) || !strings.Contains(string(b), `"state":"Enabled"`) {
		t.Fatalf("GET /subscriptions = %d %s %v", st, b, err)
	}
}

func TestResourceGroups(t *testing.T) {
	s := testserver.Start(t, nil)
	c := armClients(t, s, devCredential(t, s))
	ctx := context.Background()
	res, err := c.groups.CreateOrUpdate(ctx, "ContosoAppRG", armresources.ResourceGroup{Location: ptr("West US"), Tags: map[string]*string{"team": ptr("security")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantID := "/subscriptions/" + s.Dev.SubscriptionID + "/resourceGroups/ContosoAppRG"
	if *res.ID != wantID || *res.Location != "westus" || *res.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("created %+v", res.ResourceGroup)
	}
	if _, err := c.groups.CreateOrUpdate(ctx, "contosoapprg", armresources.ResourceGroup{Location: ptr("eastus")}, nil); err == nil {
		t.Fatal("moved a resource group to another location")
	}
	if r, err := c.groups.CheckExistence(ctx, "CONTOSOAPPRG", nil); err != nil || !r.Success {
		t.Fatalf("check existence: %v %v", r.Success, err)
	}
	if r, err := c.groups.CheckExistence(ctx, "nope", nil); err != nil || r.Success {
		t.Fatalf("check existence of a missing group: %v %v", r.Success, err)
	}
	up, err := c.groups.Update(ctx, "ContosoAppRG", armresources.ResourceGroupPatchable{Tags: map[string]*string{"team": ptr("sec"), "env": ptr("test")}}, nil)
	if err != nil || len(up.Tags) != 2 {
		t.Fatalf("update tags: %+v %v", up.Tags, err)
	}
	var names []string
	for pager := c.groups.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page.Value {
			names = append(names, *g.Name)
		}
	}
	if strings.Join(names, ",") != "ContosoAppRG,mhsm-dev" {
		t.Fatalf("list = %v", names)
	}
	poller, err := c.groups.BeginDelete(ctx, "ContosoAppRG", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.groups.Get(ctx, "ContosoAppRG", nil)
	wantErr(t, "get deleted group", err, 404, "ResourceGroupNotFound")
	_, err = c.groups.CreateOrUpdate(ctx, "bad name!", armresources.ResourceGroup{Location: ptr("local")}, nil)
	wantErr(t, "invalid group name", err, 400, "InvalidResourceGroup")
}

// TestHSMLifecycle: create (long-running), get, list, check name, delete
// to soft-deleted, get/list deleted, no reuse of the name until purged,
// purge, reuse.
func TestHSMLifecycle(t *testing.T) {
	s := testserver.Start(t, nil)
	cred := devCredential(t, s)
	c := armClients(t, s, cred)
	ctx := context.Background()
	createRG(t, c, "rg1")
	admin := tokenOID(t, dataToken(t, s, cred))

	h := createHSM(t, c, "rg1", "ContosoMHSM", hsmParams(s, admin))
	p := h.Properties
	if *h.ID != "/subscriptions/"+s.Dev.SubscriptionID+"/resourceGroups/rg1/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM" || *h.Type != "Microsoft.KeyVault/managedHSMs" {
		t.Fatalf("id/type: %s %s", *h.ID, *h.Type)
	}
	if *p.ProvisioningState != armkeyvault.ProvisioningStateSucceeded || *p.HsmURI != s.HSMURL("contosomhsm")+"/" ||
		*p.StatusMessage == "" || *p.SoftDeleteRetentionInDays != 7 || !*p.EnableSoftDelete || *p.PublicNetworkAccess != armkeyvault.PublicNetworkAccessEnabled {
		t.Fatalf("properties: %+v", p)
	}
	if *p.SecurityDomainProperties.ActivationStatus != armkeyvault.ActivationStatusNotActivated {
		t.Fatalf("a new HSM must not be activated: %s", *p.SecurityDomainProperties.ActivationStatus)
	}
	if len(p.InitialAdminObjectIDs) != 1 || *p.InitialAdminObjectIDs[0] != admin {
		t.Fatalf("initial admins %v", p.InitialAdminObjectIDs)
	}

	// The data plane is live: the administrator activates it, then uses it.
	adminTok := dataToken(t, s, cred)
	activate(t, s, "contosomhsm", adminTok)
	if st, b, _ := s.Call(adminTok, "GET", s.HSMURL("contosomhsm")+"/providers/Microsoft.Authorization/roleAssignments"+api, nil); st != 200 {
		t.Fatalf("role assignments of the new HSM: %d %s", st, b)
	}
	got, err := c.hsms.Get(ctx, "rg1", "ContosoMHSM", nil)
	if err != nil || *got.Properties.SecurityDomainProperties.ActivationStatus != armkeyvault.ActivationStatusActive {
		t.Fatalf("after activation: %v %v", got.Properties.SecurityDomainProperties.ActivationStatus, err)
	}

	count := func(pager interface {
		More() bool
	}, next func() ([]*armkeyvault.ManagedHsm, error)) []string {
		var out []string
		for pager.More() {
			v, err := next()
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range v {
				out = append(out, *h.Name)
			}
		}
		return out
	}
	rgPager := c.hsms.NewListByResourceGroupPager("rg1", nil)
	if names := count(rgPager, func() ([]*armkeyvault.ManagedHsm, error) { p, err := rgPager.NextPage(ctx); return p.Value, err }); strings.Join(names, ",") != "ContosoMHSM" {
		t.Fatalf("list by rg = %v", names)
	}
	subPager := c.hsms.NewListBySubscriptionPager(&armkeyvault.ManagedHsmsClientListBySubscriptionOptions{Top: ptr[int32](1)})
	if names := count(subPager, func() ([]*armkeyvault.ManagedHsm, error) { p, err := subPager.NextPage(ctx); return p.Value, err }); strings.Join(names, ",") != "ContosoMHSM,dev" {
		t.Fatalf("list by subscription ($top=1, paged) = %v", names)
	}

	check := func(name string) armkeyvault.CheckMhsmNameAvailabilityResult {
		r, err := c.hsms.CheckMhsmNameAvailability(ctx, armkeyvault.CheckMhsmNameAvailabilityParameters{Name: ptr(name)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.CheckMhsmNameAvailabilityResult
	}
	if r := check("contosomhsm"); *r.NameAvailable || *r.Reason != armkeyvault.ReasonAlreadyExists {
		t.Fatalf("name check of a live HSM: %+v", r)
	}
	if r := check("1bad"); *r.NameAvailable || *r.Reason != armkeyvault.ReasonAccountNameInvalid {
		t.Fatalf("name check of an invalid name: %+v", r)
	}
	if r := check("free-name"); !*r.NameAvailable {
		t.Fatalf("name check of a free name: %+v", r)
	}

	// Soft delete: the data plane is gone at once, the name is held.
	deleteHSM(t, c, "rg1", "ContosoMHSM")
	_, err = c.hsms.Get(ctx, "rg1", "ContosoMHSM", nil)
	wantErr(t, "get deleted HSM", err, 404, "ResourceNotFound")
	if st, _, _ := s.Call(adminTok, "GET", s.HSMURL("contosomhsm")+"/keys"+api, nil); st != 404 {
		t.Fatalf("data plane of a deleted HSM = %d, want 404", st)
	}
	d, err := c.hsms.GetDeleted(ctx, "ContosoMHSM", "local", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *d.Properties.MhsmID != *h.ID || *d.Properties.PurgeProtectionEnabled || d.Properties.ScheduledPurgeDate.Sub(*d.Properties.DeletionDate).Hours() != 7*24 {
		t.Fatalf("deleted HSM %+v", d.Properties)
	}
	var deleted []string
	for pager := c.hsms.NewListDeletedPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Value {
			deleted = append(deleted, *d.Name)
		}
	}
	if strings.Join(deleted, ",") != "ContosoMHSM" {
		t.Fatalf("list deleted = %v", deleted)
	}
	_, err = c.hsms.BeginCreateOrUpdate(ctx, "rg1", "contosomhsm", hsmParams(s, admin), nil)
	wantErr(t, "reuse of a soft-deleted name", err, 409, "ConflictError")
	createRG(t, c, "rg2")
	_, err = c.hsms.BeginCreateOrUpdate(ctx, "rg2", "ContosoMHSM", hsmParams(s, admin), nil)
	wantErr(t, "reuse of a soft-deleted name in another group", err, 409, "ConflictError")
	if r := check("ContosoMHSM"); *r.NameAvailable {
		t.Fatal("a soft-deleted name reported available")
	}
	_, err = c.hsms.GetDeleted(ctx, "ContosoMHSM", "eastus", nil)
	wantErr(t, "deleted HSM in another location", err, 404, "")

	// Purge frees the name; nothing of the old HSM survives.
	if err := purgeHSM(ctx, c, "ContosoMHSM"); err != nil {
		t.Fatal(err)
	}
	_, err = c.hsms.GetDeleted(ctx, "ContosoMHSM", "local", nil)
	wantErr(t, "get purged HSM", err, 404, "")
	h2 := createHSM(t, c, "rg2", "ContosoMHSM", hsmParams(s, admin))
	if *h2.Properties.SecurityDomainProperties.ActivationStatus != armkeyvault.ActivationStatusNotActivated {
		t.Fatal("a re-created HSM inherited activation")
	}
	// Deleting what does not exist is a no-op (204).
	deleteHSM(t, c, "rg1", "never-existed")
}

func TestPurgeProtection(t *testing.T) {
	s := testserver.Start(t, nil)
	cred := devCredential(t, s)
	c := armClients(t, s, cred)
	ctx := context.Background()
	createRG(t, c, "rg")
	admin := tokenOID(t, dataToken(t, s, cred))
	p := hsmParams(s, admin)
	p.Properties.EnablePurgeProtection = ptr(true)
	createHSM(t, c, "rg", "locked", p)
	createHSM(t, c, "rg", "later", hsmParams(s, admin))

	// Purge protection can be turned on, never off.
	up, err := c.hsms.BeginUpdate(ctx, "rg", "later", armkeyvault.ManagedHsm{Properties: &armkeyvault.ManagedHsmProperties{EnablePurgeProtection: ptr(true)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := up.PollUntilDone(ctx, nil)
	if err != nil || !*res.Properties.EnablePurgeProtection {
		t.Fatalf("enable purge protection: %v", err)
	}
	_, err = c.hsms.BeginUpdate(ctx, "rg", "later", armkeyvault.ManagedHsm{Properties: &armkeyvault.ManagedHsmProperties{EnablePurgeProtection: ptr(false)}}, nil)
	wantErr(t, "disable purge protection", err, 400, "")
	_, err = c.hsms.BeginUpdate(ctx, "rg", "later", armkeyvault.ManagedHsm{Properties: &armkeyvault.ManagedHsmProperties{SoftDeleteRetentionInDays: ptr[int32](30)}}, nil)
	wantErr(t, "change retention", err, 400, "")

	for _, name := range []string{"locked", "later"} {
		deleteHSM(t, c, "rg", name)
		err := purgeHSM(ctx, c, name)
		wantErr(t, "purge with purge protection", err, 409, "InvalidOperation")
		d, err := c.hsms.GetDeleted(ctx, name, "local", nil)
		if err != nil || !*d.Properties.PurgeProtectionEnabled {
			t.Fatalf("%s: the refused purge removed it: %v", name, err)
		}
	}
	// Recover (createMode recover) brings it back whole.
	rec := hsmParams(s, admin)
	rec.Properties.CreateMode = ptr(armkeyvault.CreateModeRecover)
	got := createHSM(t, c, "rg", "locked", rec)
	if *got.Properties.ProvisioningState != armkeyvault.ProvisioningStateSucceeded || !*got.Properties.EnablePurgeProtection {
		t.Fatalf("recovered: %+v", got.Properties)
	}
	if _, err := c.hsms.GetDeleted(ctx, "locked", "local", nil); err == nil {
		t.Fatal("a recovered HSM is still listed as deleted")
	}
}
