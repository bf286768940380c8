package mgmt

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"github.com/mhsm/mhsm/internal/httpapi"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
)

// TestSeedManagementFlow is the management half of "Secure access to your
// managed HSMs" in depth (the whole story, told once, is examples/contoso,
// run by test/contoso), with directory users signing in by password:
//   - the subscription admin grants Managed HSM Contributor to the
//     security-team group on the resource group;
//   - a member of the group creates the HSM (its administrator is the
//     team's lead) and turns on logging;
//   - a developer with no role can do none of it;
//   - the Contributor, not an HSM administrator, gets 403 on every
//     data-plane key operation (management rights are not data rights);
//   - the HSM administrator, with no management role, cannot delete it.
func TestSeedManagementFlow(t *testing.T) {
	s := testserver.Start(t, nil)
	ctx := context.Background()
	admin := armClients(t, s, devCredential(t, s)) // subscription Owner
	alice := newUser(t, s, "alice")                // security team
	bob := newUser(t, s, "bob")                    // security lead: the HSM's administrator
	dave := newUser(t, s, "dave")                  // developer
	team := newGroup(t, s, "Contoso Security Team", alice.oid)
	newGroup(t, s, "Contoso App DevOps", dave.oid)
	sub := "/subscriptions/" + s.Dev.SubscriptionID
	rg := sub + "/resourceGroups/ContosoAppRG"

	// The subscription admin sets up the group and grants the team
	// Managed HSM Contributor on it (role resolved by name, as az does).
	createRG(t, admin, "ContosoAppRG")
	contributor := roleID(t, admin, rg, "Managed HSM Contributor")
	if _, err := assignRole(ctx, admin, rg, contributor, team, armauthorization.PrincipalTypeGroup); err != nil {
		t.Fatal(err)
	}
	// …and Storage Account Contributor, so it may name the group's storage
	// account as the log destination (a linked write, issue #14.3).
	if _, err := assignRole(ctx, admin, rg, roleID(t, admin, rg, "Storage Account Contributor"), team, armauthorization.PrincipalTypeGroup); err != nil {
		t.Fatal(err)
	}

	// A developer without a role can create nothing, see nothing.
	d := armClients(t, s, dave.cred)
	_, err := d.hsms.BeginCreateOrUpdate(ctx, "ContosoAppRG", "DevMHSM", hsmParams(s, dave.oid), nil)
	wantErr(t, "developer creates an HSM", err, 403, "AuthorizationFailed")

	// A member of the security team creates the HSM.
	a := armClients(t, s, alice.cred)
	h := createHSM(t, a, "ContosoAppRG", "ContosoMHSM", hsmParams(s, bob.oid))
	if *h.SystemData.CreatedBy != alice.oid || *h.SystemData.CreatedByType != "User" {
		t.Fatalf("systemData %+v", h.SystemData)
	}
	if _, err := a.groups.CreateOrUpdate(ctx, "OtherRG", rgParams("local"), nil); err == nil {
		t.Fatal("Managed HSM Contributor created a resource group")
	}
	_, err = a.hsms.BeginCreateOrUpdate(ctx, "mhsm-dev", "Elsewhere", hsmParams(s, bob.oid), nil)
	wantErr(t, "contributor creates an HSM outside its group", err, 403, "AuthorizationFailed")
	_, err = d.hsms.Get(ctx, "ContosoAppRG", "ContosoMHSM", nil)
	wantErr(t, "developer reads the HSM", err, 403, "AuthorizationFailed")

	// The administrator activates it (security domain download).
	bobData := dataToken(t, s, bob.cred)
	activate(t, s, "contosomhsm", bobData)

	// The security team turns on logging.
	storage := sub + "/resourceGroups/ContosoAppRG/providers/Microsoft.Storage/storageAccounts/contosologstorage"
	logs := armmonitor.DiagnosticSettingsResource{Properties: &armmonitor.DiagnosticSettings{
		StorageAccountID: &storage, Logs: []*armmonitor.LogSettings{{Category: ptr("AuditEvent"), Enabled: ptr(true)}}}}
	if _, err := a.diag.CreateOrUpdate(ctx, *h.ID, "MHSM-Diagnostics", logs, nil); err != nil {
		t.Fatalf("security team turns on logging: %v", err)
	}
	_, err = d.diag.CreateOrUpdate(ctx, *h.ID, "sneaky", logs, nil)
	wantErr(t, "developer changes logging", err, 403, "AuthorizationFailed")

	// Management rights are not data rights: every key operation is
	// refused to the Contributor who is not an HSM administrator, and it
	// cannot grant itself a data role.
	aliceData := dataToken(t, s, alice.cred)
	n := 0
	for _, rt := range (&httpapi.Server{}).DataRoutes() {
		if !strings.HasPrefix(string(rt.Action), rbac.Prefix+"keys/") {
			continue
		}
		n++
		path := placeholders.ReplaceAllStringFunc(rt.Pattern, func(p string) string {
			if p == "{version}" {
				return "0123456789abcdef0123456789abcdef"
			}
			return "k1"
		})
		st, b, err := s.Call(aliceData, rt.Method, s.HSMURL("contosomhsm")+path+api, map[string]any{"kty": "RSA"})
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := errorCode(b); st != 403 || code != "AccessDenied" {
			t.Errorf("%s %s (%s) as the Contributor: %d %s, want 403 AccessDenied", rt.Method, rt.Pattern, rt.Action, st, b)
		}
	}
	if n < 20 {
		t.Fatalf("only %d key operations found", n)
	}
	st, b, _ := s.Call(aliceData, "PUT", s.HSMURL("contosomhsm")+"/providers/Microsoft.Authorization/roleAssignments/"+newGUID()+api,
		map[string]any{"properties": map[string]string{"roleDefinitionId": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleCryptoUser, "principalId": alice.oid, "scope": "/"}})
	if st != 403 {
		t.Fatalf("Contributor grants itself Crypto User: %d %s", st, b)
	}

	// The administrator, with no management role, cannot delete the HSM
	// (nor read or change it through ARM).
	b2 := armClients(t, s, bob.cred)
	_, err = b2.hsms.BeginDelete(ctx, "ContosoAppRG", "ContosoMHSM", nil)
	wantErr(t, "HSM administrator deletes the HSM", err, 403, "AuthorizationFailed")
	_, err = b2.hsms.Get(ctx, "ContosoAppRG", "ContosoMHSM", nil)
	wantErr(t, "HSM administrator reads the HSM resource", err, 403, "AuthorizationFailed")
	// …while its data-plane role works: it can grant a data role.
	st, b, _ = s.Call(bobData, "PUT", s.HSMURL("contosomhsm")+"/providers/Microsoft.Authorization/roleAssignments/"+newGUID()+api,
		map[string]any{"properties": map[string]string{"roleDefinitionId": "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleCryptoAuditor, "principalId": team, "scope": "/"}})
	if st != 201 && st != 200 {
		t.Fatalf("HSM administrator assigns a data role: %d %s", st, b)
	}

	// The Contributor may delete it; purging (a subscription-level
	// resource) needs a role at the subscription, as in Azure.
	deleteHSM(t, a, "ContosoAppRG", "ContosoMHSM")
	err = purgeHSM(ctx, a, "ContosoMHSM")
	wantErr(t, "resource-group Contributor purges", err, 403, "AuthorizationFailed")
	if err := purgeHSM(ctx, admin, "ContosoMHSM"); err != nil {
		t.Fatal(err)
	}
}

var placeholders = regexp.MustCompile(`\{[a-z]+\}`)
