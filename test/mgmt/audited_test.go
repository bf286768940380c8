package mgmt

import (
	"context"
	"testing"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/testserver"
)

// TestManagementOperationsAudited: management requests on an HSM go to
// that HSM's audit chain, denials included; the rest to the server chain.
func TestManagementOperationsAudited(t *testing.T) {
	s := testserver.Start(t, nil)
	ctx := context.Background()
	owner := armClients(t, s, devCredential(t, s))
	nobody := armClients(t, s, newSP(t, s, "nobody").cred)
	if _, err := owner.hsms.Get(ctx, s.Dev.ResourceGroup, "dev", nil); err != nil {
		t.Fatal(err)
	}
	_, err := nobody.hsms.BeginDelete(ctx, s.Dev.ResourceGroup, "dev", nil)
	wantErr(t, "delete without a role", err, 403, "AuthorizationFailed")
	createRG(t, owner, "audited")

	srcs, err := audit.FindSources(ctx, audit.DirFiles(s.App.Audit().Dir()), "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]int{} // chain → operation → status
	for _, src := range srcs {
		err := src.Query(ctx, &audit.Filter{}, func(r *audit.Record) error {
			if seen[src.Name] == nil {
				seen[src.Name] = map[string]int{}
			}
			seen[src.Name][r.Operation] = r.Status
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen["dev"]["ManagedHsmGet"] != 200 || seen["dev"]["ManagedHsmDelete"] != 403 {
		t.Fatalf("dev chain: %v", seen["dev"])
	}
	found := false
	for chain, ops := range seen {
		if chain != "dev" && ops["ResourceGroupCreateOrUpdate"] != 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("resource group creation not audited: %v", seen)
	}
}
