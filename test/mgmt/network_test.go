package mgmt

import (
	"context"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"

	"github.com/mhsm/mhsm/internal/testserver"
)

// TestNetworkRules: publicNetworkAccess Disabled and firewall IP rules on
// the dev HSM reject the test client (127.0.0.1) on the data plane with
// Key Vault's errors; allowing its address lets it in again.
func TestNetworkRules(t *testing.T) {
	s := testserver.Start(t, nil)
	ctx := context.Background()
	cred := devCredential(t, s)
	c := armClients(t, s, cred)
	tok := dataToken(t, s, cred)
	rg := s.Dev.ResourceGroup
	keys := func() (int, string, string, string) {
		st, b, err := s.Call(tok, "GET", s.HSMURL("dev")+"/keys"+api, nil)
		if err != nil {
			t.Fatal(err)
		}
		code, inner := errorCode(b)
		return st, code, inner, string(b)
	}
	update := func(p armkeyvault.ManagedHsmProperties) armkeyvault.ManagedHsm {
		t.Helper()
		poller, err := c.hsms.BeginUpdate(ctx, rg, "dev", armkeyvault.ManagedHsm{Properties: &p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := poller.PollUntilDone(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.ManagedHsm
	}
	if st, _, _, b := keys(); st != 200 {
		t.Fatalf("open network: %d %s", st, b)
	}

	update(armkeyvault.ManagedHsmProperties{PublicNetworkAccess: ptr(armkeyvault.PublicNetworkAccessDisabled)})
	if st, code, inner, b := keys(); st != 403 || code != "Forbidden" || inner != "ForbiddenByConnection" || !strings.Contains(b, "Public network access is disabled") {
		t.Fatalf("public access disabled: %d %s", st, b)
	}
	// Unauthenticated callers still get the challenge.
	if st, _, _ := s.Call("", "GET", s.HSMURL("dev")+"/keys"+api, nil); st != 401 {
		t.Fatalf("unauthenticated: %d", st)
	}

	deny := ptr(armkeyvault.NetworkRuleActionDeny)
	h := update(armkeyvault.ManagedHsmProperties{PublicNetworkAccess: ptr(armkeyvault.PublicNetworkAccessEnabled),
		NetworkACLs: &armkeyvault.MHSMNetworkRuleSet{DefaultAction: deny, IPRules: []*armkeyvault.MHSMIPRule{{Value: ptr("10.1.2.0/24")}}}})
	if *h.Properties.NetworkACLs.DefaultAction != armkeyvault.NetworkRuleActionDeny || *h.Properties.NetworkACLs.IPRules[0].Value != "10.1.2.0/24" {
		t.Fatalf("acls %+v", h.Properties.NetworkACLs)
	}
	if st, code, inner, b := keys(); st != 403 || code != "Forbidden" || inner != "ForbiddenByFirewall" || !strings.Contains(b, "Client address: 127.0.0.1") {
		t.Fatalf("firewall without the client's address: %d %s", st, b)
	}
	update(armkeyvault.ManagedHsmProperties{NetworkACLs: &armkeyvault.MHSMNetworkRuleSet{DefaultAction: deny,
		IPRules: []*armkeyvault.MHSMIPRule{{Value: ptr("10.1.2.0/24")}, {Value: ptr("127.0.0.1")}}}})
	if st, _, _, b := keys(); st != 200 {
		t.Fatalf("firewall admitting 127.0.0.1: %d %s", st, b)
	}
	update(armkeyvault.ManagedHsmProperties{NetworkACLs: &armkeyvault.MHSMNetworkRuleSet{DefaultAction: ptr(armkeyvault.NetworkRuleActionAllow)}})
	if st, _, _, b := keys(); st != 200 {
		t.Fatalf("default allow: %d %s", st, b)
	}
	_, err := c.hsms.BeginUpdate(ctx, rg, "dev", armkeyvault.ManagedHsm{Properties: &armkeyvault.ManagedHsmProperties{
		NetworkACLs: &armkeyvault.MHSMNetworkRuleSet{IPRules: []*armkeyvault.MHSMIPRule{{Value: ptr("not-an-ip")}}}}}, nil)
	wantErr(t, "invalid IP rule", err, 400, "")

	// The rules survive a restart.
	update(armkeyvault.ManagedHsmProperties{PublicNetworkAccess: ptr(armkeyvault.PublicNetworkAccessDisabled)})
	cfg := *s.Config()
	s.Stop()
	s2, err := testserver.StartConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	tok2 := dataToken(t, s2, devCredential(t, s2))
	if st, b, _ := s2.Call(tok2, "GET", s2.HSMURL("dev")+"/keys"+api, nil); st != 403 {
		t.Fatalf("after restart: %d %s", st, b)
	}
}
