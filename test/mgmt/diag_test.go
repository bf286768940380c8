package mgmt

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"github.com/mhsm/mhsm/internal/testserver"
)

func TestDiagnosticSettings(t *testing.T) {
	s := testserver.Start(t, nil)
	ctx := context.Background()
	c := armClients(t, s, devCredential(t, s))
	hsm := "/subscriptions/" + s.Dev.SubscriptionID + "/resourceGroups/" + s.Dev.ResourceGroup + "/providers/Microsoft.KeyVault/managedHSMs/dev"
	storage := "/subscriptions/" + s.Dev.SubscriptionID + "/resourceGroups/" + s.Dev.ResourceGroup + "/providers/Microsoft.Storage/storageAccounts/contosologstorage"
	setting := func(category string, props func(*armmonitor.DiagnosticSettings)) armmonitor.DiagnosticSettingsResource {
		p := &armmonitor.DiagnosticSettings{StorageAccountID: ptr(storage), Logs: []*armmonitor.LogSettings{{Category: ptr(category), Enabled: ptr(true)}}}
		if props != nil {
			props(p)
		}
		return armmonitor.DiagnosticSettingsResource{Properties: p}
	}
	res, err := c.diag.CreateOrUpdate(ctx, hsm, "MHSM-Diagnostics", setting("AuditEvent", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if *res.ID != hsm+"/providers/Microsoft.Insights/diagnosticSettings/MHSM-Diagnostics" || *res.Properties.StorageAccountID != storage {
		t.Fatalf("created %+v", res)
	}
	got, err := c.diag.Get(ctx, hsm, "MHSM-Diagnostics", nil)
	if err != nil || *got.Properties.Logs[0].Category != "AuditEvent" || !*got.Properties.Logs[0].Enabled {
		t.Fatalf("get: %v", err)
	}
	// What the audit pipeline receives.
	ds, err := s.App.Management().Settings(ctx, "dev")
	if err != nil || len(ds) != 1 {
		t.Fatalf("settings %v %v", ds, err)
	}
	d := ds[0]
	if d.HSM != "dev" || d.StorageAccount != "contosologstorage" || len(d.Categories) != 1 || d.Categories[0] != "AuditEvent" ||
		d.StorageDir != filepath.Join(s.Config().DataDir, "storage", "contosologstorage") || d.ResourceID != hsm {
		t.Fatalf("setting as the sink sees it: %+v", d)
	}

	_, err = c.diag.CreateOrUpdate(ctx, hsm, "bad", setting("AllMetrics", nil), nil)
	wantErr(t, "unknown log category", err, 400, "")
	_, err = c.diag.CreateOrUpdate(ctx, hsm, "ws", setting("AuditEvent", func(p *armmonitor.DiagnosticSettings) {
		p.StorageAccountID, p.WorkspaceID = nil, ptr("/subscriptions/"+s.Dev.SubscriptionID+"/resourceGroups/x/providers/Microsoft.OperationalInsights/workspaces/w")
	}), nil)
	wantErr(t, "Log Analytics destination", err, 400, "")
	_, err = c.diag.CreateOrUpdate(ctx, hsm+"x", "MHSM-Diagnostics", setting("AuditEvent", nil), nil)
	wantErr(t, "setting on a missing HSM", err, 404, "")

	var names []string
	for pager := c.diag.NewListPager(hsm, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Value {
			names = append(names, *d.Name)
		}
	}
	if len(names) != 1 {
		t.Fatalf("list = %v", names)
	}
	if _, err := c.diag.Delete(ctx, hsm, "MHSM-Diagnostics", nil); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.App.Management().Settings(ctx, "dev"); len(ds) != 0 {
		t.Fatalf("after delete: %+v", ds)
	}
	_, err = c.diag.Get(ctx, hsm, "MHSM-Diagnostics", nil)
	wantErr(t, "get a deleted setting", err, 404, "")
}
