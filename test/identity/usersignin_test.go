package identity

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/mhsm/mhsm/internal/client"
	"github.com/mhsm/mhsm/internal/rbac"
)

// TestUsernamePasswordCredential signs a user in through azidentity's
// UsernamePasswordCredential (MSAL Go, unmodified): MSAL asks
// /common/UserRealm/{upn} first, then the password grant; a token for a
// second resource comes silently from the refresh token. MSAL refuses a
// response whose scope lacks a requested scope, so both grants must echo
// <resource>/.default.
func TestUsernamePasswordCredential(t *testing.T) {
	s := start(t, nil)
	gc := devGraph(t, s)
	ada := newUser(t, gc, upn(s, "ada"), "Ada", "Analytical-Engine-1843")
	assign(t, s, rbac.RoleCryptoUser, *ada.GetId())

	//nolint:staticcheck // deprecated for MFA reasons, still what scripts use
	cred, err := azidentity.NewUsernamePasswordCredential(s.Dev.TenantID, client.CLIClientID, upn(s, "ada"), "Analytical-Engine-1843",
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hsmTok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.URL("managedhsm") + "/.default"}})
	if err != nil {
		t.Fatalf("password grant through MSAL: %s", describe(err))
	}
	if c := claimsOf(hsmTok.Token); c["oid"] != *ada.GetId() || c["idtyp"] != "user" {
		t.Fatalf("claims %v", c)
	}
	// A second resource: MSAL redeems the cached refresh token.
	gTok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.URL("graph") + "/.default"}})
	if err != nil {
		t.Fatalf("refresh grant through MSAL: %s", describe(err))
	}
	if c := claimsOf(gTok.Token); c["oid"] != *ada.GetId() || c["aud"] != s.URL("graph") {
		t.Fatalf("refreshed token claims %v", c)
	}
	kc, err := azkeys.NewClient(s.HSMURL("dev")+"/", cred, &azkeys.ClientOptions{ClientOptions: clientOptions(s)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CreateKey(ctx, "ada-key", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeECHSM), Curve: ptr(azkeys.CurveNameP256)}, nil); err != nil {
		t.Fatalf("azkeys as the user: %s", describe(err))
	}
}

// TestUserRealm: GET /common/UserRealm/{upn} in any case of "userrealm"
// (MSAL Python sends it lower-case) answers Entra's JSON: Managed with the
// domain for a tenant's user; Unknown without domain_name otherwise.
func TestUserRealm(t *testing.T) {
	s := start(t, nil)
	for _, path := range []string{"/common/UserRealm/", "/common/userrealm/", "/organizations/USERREALM/"} {
		resp, err := s.Client().Get(s.URL("login") + path + "ada@" + s.Config().Domain + "?api-version=1.0")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		if m["ver"] != "1.0" || m["account_type"] != "Managed" || m["domain_name"] != s.Config().Domain ||
			m["cloud_instance_name"] == "" || m["cloud_audience_urn"] != "urn:federation:MicrosoftOnline" {
			t.Fatalf("%s: %v", path, m)
		}
	}
	resp, err := s.Client().Get(s.URL("login") + "/common/userrealm/someone@example.org?api-version=1.0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || m["account_type"] != "Unknown" || m["domain_name"] != nil {
		t.Fatalf("unknown domain: %v %v", m, err)
	}
}
