package mgmt

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/mhsm/mhsm/internal/testserver"
)

// TestManagementAuthentication: the management plane takes only
// management-audience tokens of the subscription's tenant, requires
// api-version, and denies by default.
func TestManagementAuthentication(t *testing.T) {
	s := testserver.Start(t, nil)
	ctx := context.Background()
	base := s.URL("management") + "/subscriptions/" + s.Dev.SubscriptionID + "/resourcegroups"
	const v = "?api-version=2021-04-01"
	devMgmt := mgmtToken(t, s, devCredential(t, s))
	cases := []struct {
		name, token, url string
		status           int
		code             string
	}{
		{"no token", "", base + v, 401, "InvalidAuthenticationToken"},
		{"garbage token", "x.y.z", base + v, 401, "InvalidAuthenticationToken"},
		{"data-plane token", dataToken(t, s, devCredential(t, s)), base + v, 401, "InvalidAuthenticationToken"},
		{"no api-version", devMgmt, base, 400, "MissingApiVersionParameter"},
		{"unknown subscription", devMgmt, s.URL("management") + "/subscriptions/" + newGUID() + "/resourcegroups" + v, 404, "SubscriptionNotFound"},
		{"unknown path", devMgmt, s.URL("management") + "/subscriptions/" + s.Dev.SubscriptionID + "/providers/Microsoft.Compute/virtualMachines" + v, 404, ""},
		{"ok", devMgmt, base + v, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, b, err := s.Call(c.token, "GET", c.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if code, _ := errorCode(b); st != c.status || (c.code != "" && code != c.code) {
				t.Fatalf("%d %s, want %d %s", st, b, c.status, c.code)
			}
		})
	}

	// A principal of another tenant cannot use this subscription, even
	// with a valid management token of its own tenant.
	dir := s.App.Directory()
	other, err := dir.CreateTenant(ctx, "other", "other.test")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := dir.CreateServicePrincipal(ctx, other.ID, "outsider")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := dir.AddSecret(ctx, other.ID, sp.AppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewClientSecretCredential(other.ID, sp.AppID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	st, b, _ := s.Call(mgmtToken(t, s, cred), "GET", base+v, nil)
	if code, _ := errorCode(b); st != 401 || code != "InvalidAuthenticationTokenTenant" {
		t.Fatalf("foreign tenant: %d %s", st, b)
	}
	// A principal with no role sees no subscription and may do nothing.
	nobody := newSP(t, s, "nobody")
	st, b, _ = s.Call(mgmtToken(t, s, nobody.cred), "GET", s.URL("management")+"/subscriptions?api-version=2019-11-01", nil)
	if st != 200 || string(b) != `{"value":[]}` {
		t.Fatalf("subscriptions of a principal with no role: %d %s", st, b)
	}
	st, _, _ = s.Call(mgmtToken(t, s, nobody.cred), "GET", base+v, nil)
	if st != 403 {
		t.Fatalf("resource groups of a principal with no role: %d", st)
	}
}
