package mgmt

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
)

// TestManyHSMsIsolated creates HSMs concurrently, each with its own
// administrator, keys, roles, logging and network rules, and shows that a
// token or an assignment for one grants nothing on another.
func TestManyHSMsIsolated(t *testing.T) {
	s := testserver.Start(t, nil)
	ctx := context.Background()
	owner := armClients(t, s, devCredential(t, s))
	createRG(t, owner, "fleet")
	const n = 6
	names := make([]string, n)
	admins := make([]user, n)
	for i := range n {
		names[i] = fmt.Sprintf("fleet-%d", i)
		admins[i] = newSP(t, s, names[i]+"-admin")
	}

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			poller, err := owner.hsms.BeginCreateOrUpdate(ctx, "fleet", names[i], hsmParams(s, admins[i].oid), nil)
			if err == nil {
				_, err = poller.PollUntilDone(ctx, nil)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %s: %v", names[i], err)
		}
	}

	// Each administrator activates its HSM, takes Crypto User there and
	// creates its own key.
	tokens := make([]string, n)
	for i := range n {
		tokens[i] = dataToken(t, s, admins[i].cred)
		activate(t, s, names[i], tokens[i])
		st, b, _ := s.Call(tokens[i], "PUT", s.HSMURL(names[i])+"/providers/Microsoft.Authorization/roleAssignments/"+newGUID()+api,
			map[string]any{"properties": map[string]string{"roleDefinitionId": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleCryptoUser, "principalId": admins[i].oid, "scope": "/"}})
		if st != 201 && st != 200 {
			t.Fatalf("%s: assign Crypto User: %d %s", names[i], st, b)
		}
		st, b, _ = s.Call(tokens[i], "POST", s.HSMURL(names[i])+"/keys/key-"+fmt.Sprint(i)+"/create"+api, map[string]any{"kty": "EC-HSM", "crv": "P-256"})
		if st != 200 {
			t.Fatalf("%s: create key: %d %s", names[i], st, b)
		}
	}
	for i := range n {
		// Own HSM: exactly its own key.
		st, b, _ := s.Call(tokens[i], "GET", s.HSMURL(names[i])+"/keys"+api, nil)
		var list struct {
			Value []struct {
				Kid string `json:"kid"`
			} `json:"value"`
		}
		_ = json.Unmarshal(b, &list)
		if st != 200 || len(list.Value) != 1 || !strings.HasSuffix(list.Value[0].Kid, "/keys/key-"+fmt.Sprint(i)) {
			t.Fatalf("%s lists %d %s", names[i], st, b)
		}
		// Every other HSM: nothing, not even with the same kind of role.
		j := (i + 1) % n
		for _, path := range []string{"/keys", "/keys/key-" + fmt.Sprint(j), "/providers/Microsoft.Authorization/roleAssignments"} {
			st, b, _ := s.Call(tokens[i], "GET", s.HSMURL(names[j])+path+api, nil)
			if code, _ := errorCode(b); st != 403 || code != "AccessDenied" {
				t.Fatalf("admin of %s on %s%s: %d %s, want 403 AccessDenied", names[i], names[j], path, st, b)
			}
		}
	}

	// A management assignment on one HSM grants nothing on another.
	viewer := newSP(t, s, "viewer")
	hsm0 := "/subscriptions/" + s.Dev.SubscriptionID + "/resourceGroups/fleet/providers/Microsoft.KeyVault/managedHSMs/" + names[0]
	if _, err := assignRole(ctx, owner, hsm0, roleID(t, owner, hsm0, "Managed HSM Contributor"), viewer.oid, armauthorization.PrincipalTypeServicePrincipal); err != nil {
		t.Fatal(err)
	}
	v := armClients(t, s, viewer.cred)
	if _, err := v.hsms.Get(ctx, "fleet", names[0], nil); err != nil {
		t.Fatalf("resource-scoped contributor reads its HSM: %v", err)
	}
	tags := armkeyvault.ManagedHsm{Tags: map[string]*string{"owner": ptr("viewer")}}
	if p, err := v.hsms.BeginUpdate(ctx, "fleet", names[0], tags, nil); err != nil {
		t.Fatalf("resource-scoped contributor updates its HSM: %v", err)
	} else if _, err := p.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	_, err := v.hsms.Get(ctx, "fleet", names[1], nil)
	wantErr(t, "contributor of one HSM reads another", err, 403, "AuthorizationFailed")
	_, err = v.hsms.BeginUpdate(ctx, "fleet", names[1], tags, nil)
	wantErr(t, "contributor of one HSM updates another", err, 403, "AuthorizationFailed")
	_, err = v.hsms.BeginDelete(ctx, "fleet", names[1], nil)
	wantErr(t, "contributor of one HSM deletes another", err, 403, "AuthorizationFailed")
	var listed []string
	for pager := v.hsms.NewListByResourceGroupPager("fleet", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Value {
			listed = append(listed, *h.Name)
		}
	}
	if strings.Join(listed, ",") != names[0] {
		t.Fatalf("the group's list shows the resource-scoped contributor %v", listed)
	}
	// …and no data access at all on its own HSM.
	if st, _, _ := s.Call(dataToken(t, s, viewer.cred), "GET", s.HSMURL(names[0])+"/keys"+api, nil); st != 403 {
		t.Fatalf("management role gave data access: %d", st)
	}

	// Logging and network rules are per HSM.
	storage := "/subscriptions/" + s.Dev.SubscriptionID + "/resourceGroups/fleet/providers/Microsoft.Storage/storageAccounts/fleetlogs"
	if _, err := owner.diag.CreateOrUpdate(ctx, hsm0, "audit", armmonitor.DiagnosticSettingsResource{Properties: &armmonitor.DiagnosticSettings{
		StorageAccountID: &storage, Logs: []*armmonitor.LogSettings{{Category: ptr("AuditEvent"), Enabled: ptr(true)}}}}, nil); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.App.Management().Settings(ctx, names[1]); len(ds) != 0 {
		t.Fatalf("%s got %s's diagnostic settings", names[1], names[0])
	}
	disable := armkeyvault.ManagedHsm{Properties: &armkeyvault.ManagedHsmProperties{PublicNetworkAccess: ptr(armkeyvault.PublicNetworkAccessDisabled)}}
	p, err := owner.hsms.BeginUpdate(ctx, "fleet", names[2], disable, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if st, b, _ := s.Call(tokens[2], "GET", s.HSMURL(names[2])+"/keys"+api, nil); st != 403 {
		t.Fatalf("%s with public access disabled: %d %s", names[2], st, b)
	}
	if st, _, _ := s.Call(tokens[3], "GET", s.HSMURL(names[3])+"/keys"+api, nil); st != 200 {
		t.Fatalf("%s is blocked by %s's network rules: %d", names[3], names[2], st)
	}
}
