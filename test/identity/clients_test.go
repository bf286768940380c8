package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/token/tokentest"
)

// TestClientSecretCredential: a service principal made through Graph gets
// a token with azidentity that the data plane accepts: 403 before it has
// a role (authenticated, not authorized), 200 after.
func TestClientSecretCredential(t *testing.T) {
	s := start(t, nil)
	gc := devGraph(t, s)
	appID, spID, secret := newApp(t, gc, "storage-service")
	cred := secretCredential(t, s, appID, secret)
	tok := tokenFor(t, s, cred, "managedhsm")
	claims := claimsOf(tok)
	if claims["oid"] != spID || claims["appid"] != appID || claims["idtyp"] != "app" || claims["tid"] != s.Dev.TenantID {
		t.Fatalf("claims = %v", claims)
	}
	if st := listKeys(t, s, tok); st != 403 {
		t.Fatalf("no role: %d, want 403", st)
	}
	assign(t, s, rbac.RoleCryptoUser, spID)
	if st := listKeys(t, s, tok); st != 200 {
		t.Fatalf("with role: %d", st)
	}
	// A wrong secret gives a credential error from azidentity.
	bad := secretCredential(t, s, appID, secret+"x")
	if _, err := bad.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{s.URL("managedhsm") + "/.default"}}); err == nil {
		t.Fatal("wrong secret accepted")
	}
}

// selfSignedCert makes a certificate credential.
func selfSignedCert(t *testing.T, ec bool) (*x509.Certificate, any) {
	t.Helper()
	var pub, priv any
	if ec {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, priv = &k.PublicKey, k
	} else {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		pub, priv = &k.PublicKey, k
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "workload"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, priv
}

// TestClientCertificateCredential: a certificate registered on the
// application through Graph (PATCH keyCredentials) lets
// azidentity.ClientCertificateCredential sign in (PS256, x5t#S256).
func TestClientCertificateCredential(t *testing.T) {
	s := start(t, nil)
	gc := devGraph(t, s)
	ctx := context.Background()
	appID, spID, _ := newApp(t, gc, "cert-app")
	cert, key := selfSignedCert(t, false)
	apps := m(gc.Applications().Get(ctx, nil)).get(t).GetValue()
	var objID string
	for _, a := range apps {
		if *a.GetAppId() == appID {
			objID = *a.GetId()
		}
	}
	kc := models.NewKeyCredential()
	kc.SetTypeEscaped(ptr("AsymmetricX509Cert"))
	kc.SetUsage(ptr("Verify"))
	kc.SetKey(cert.Raw)
	kc.SetDisplayName(ptr("workload cert"))
	patch := models.NewApplication()
	patch.SetKeyCredentials([]models.KeyCredentialable{kc})
	if _, err := gc.Applications().ByApplicationId(objID).Patch(ctx, patch, nil); err != nil {
		t.Fatal(describe(err))
	}
	cred, err := azidentity.NewClientCertificateCredential(s.Dev.TenantID, appID, []*x509.Certificate{cert}, key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok := tokenFor(t, s, cred, "managedhsm")
	assign(t, s, rbac.RoleCryptoUser, spID)
	if st := listKeys(t, s, tok); st != 200 {
		t.Fatalf("certificate credential token: %d", st)
	}
	// Another certificate (not registered) is refused.
	other, okey := selfSignedCert(t, false)
	cred2, _ := azidentity.NewClientCertificateCredential(s.Dev.TenantID, appID, []*x509.Certificate{other}, okey,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	if _, err := cred2.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.URL("managedhsm") + "/.default"}}); err == nil {
		t.Fatal("unregistered certificate accepted")
	}
}

// createIdentity makes a managed identity through the Graph extension.
func createIdentity(t *testing.T, s *testserver.Server, name string) map[string]any {
	t.Helper()
	tok, err := s.Token(s.Dev.ClientID, s.Dev.ClientSecret, "graph")
	if err != nil {
		t.Fatal(err)
	}
	st, mi := graphRaw(t, s, tok, "POST", "/mhsm/managedIdentities", map[string]any{"name": name})
	if st != 201 || str(mi, "identityHeader") == "" {
		t.Fatalf("create identity: %d %v", st, mi)
	}
	return mi
}

// TestManagedIdentityCredential: azidentity.ManagedIdentityCredential,
// unchanged, with IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service
// style) gets tokens the data plane accepts.
func TestManagedIdentityCredential(t *testing.T) {
	s := start(t, nil)
	mi := createIdentity(t, s, "app-identity")
	endpoint := "http://" + s.App.MSIAddr().String() + "/msi/token"
	t.Setenv("IDENTITY_ENDPOINT", endpoint)
	t.Setenv("IDENTITY_HEADER", str(mi, "identityHeader"))
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	tok := tokenFor(t, s, cred, "managedhsm")
	c := claimsOf(tok)
	if c["oid"] != str(mi, "principalId") || c["appid"] != str(mi, "clientId") {
		t.Fatalf("claims = %v", c)
	}
	if st := listKeys(t, s, tok); st != 403 {
		t.Fatalf("no role: %d", st)
	}
	assign(t, s, rbac.RoleCryptoUser, str(mi, "principalId"))
	if st := listKeys(t, s, tok); st != 200 {
		t.Fatalf("with role: %d", st)
	}
	// The header is bound to its identity: a wrong header, or asking for
	// another identity's client id, is refused.
	for _, c := range []struct {
		header, query string
		want          int
	}{
		{"wrong", "", 401},
		{str(mi, "identityHeader"), "&client_id=00000000-0000-0000-0000-000000000001", 400},
		{"", "", 400},
		{str(mi, "identityHeader"), "&resource=https://attacker.example", 400},
	} {
		q := "?api-version=2019-08-01&resource=" + url.QueryEscape(s.URL("managedhsm")) + c.query
		if strings.Contains(c.query, "resource=") {
			q = "?api-version=2019-08-01" + c.query
		}
		req, _ := http.NewRequest("GET", endpoint+q, nil)
		if c.header != "" {
			req.Header.Set("X-IDENTITY-HEADER", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%+v: %d, want %d", c, resp.StatusCode, c.want)
		}
	}
}

// TestGroupMembershipAndRevocation: a role given to a group reaches its
// (nested) members; removing the membership takes effect for the next
// request; a disabled user and a deleted SP get no new tokens, and a
// deleted SP's cached token stops working at once.
func TestGroupMembershipAndRevocation(t *testing.T) {
	s := start(t, nil)
	gc := devGraph(t, s)
	ctx := context.Background()
	ada := newUser(t, gc, upn(s, "ada"), "Ada", "Analytical-Engine-1843")
	sec := newGroup(t, gc, "Contoso Security Team")
	team := newGroup(t, gc, "App Auditors")
	addMember(t, gc, *team.GetId(), *ada.GetId())
	addMember(t, gc, *sec.GetId(), *team.GetId())
	assign(t, s, rbac.RoleCryptoUser, *sec.GetId())

	st, tr := passwordToken(t, s, upn(s, "ada"), "Analytical-Engine-1843", "managedhsm")
	if st != 200 {
		t.Fatalf("password grant: %d %v", st, tr)
	}
	tok := str(tr, "access_token")
	if g := claimsOf(tok)["groups"]; len(g.([]any)) != 2 || claimsOf(tok)["upn"] != upn(s, "ada") || claimsOf(tok)["idtyp"] != "user" {
		t.Fatalf("user claims: %v", claimsOf(tok))
	}
	if st := listKeys(t, s, tok); st != 200 {
		t.Fatalf("nested group grants: %d", st)
	}
	if err := gc.Groups().ByGroupId(*sec.GetId()).Members().ByDirectoryObjectId(*team.GetId()).Ref().Delete(ctx, nil); err != nil {
		t.Fatal(describe(err))
	}
	if st := listKeys(t, s, tok); st != 403 {
		t.Fatalf("after removing the nesting, same token: %d, want 403", st)
	}
	st, tr = passwordToken(t, s, upn(s, "ada"), "Analytical-Engine-1843", "managedhsm")
	if st != 200 || len(claimsOf(str(tr, "access_token"))["groups"].([]any)) != 1 {
		t.Fatalf("next token's groups: %v", claimsOf(str(tr, "access_token"))["groups"])
	}
	refresh := str(tr, "refresh_token")

	// Disable the user: password and refresh grants fail, and the token in
	// hand stops working.
	patch := models.NewUser()
	patch.SetAccountEnabled(ptr(false))
	if _, err := gc.Users().ByUserId(*ada.GetId()).Patch(ctx, patch, nil); err != nil {
		t.Fatal(describe(err))
	}
	if st, _ := passwordToken(t, s, upn(s, "ada"), "Analytical-Engine-1843", "managedhsm"); st != 400 {
		t.Fatalf("disabled user password grant: %d", st)
	}
	if st, _ := form(t, s, tokenPath(s), url.Values{"grant_type": {"refresh_token"}, "client_id": {"6d68736d-636c-4900-8000-000000000001"},
		"refresh_token": {refresh}, "scope": {s.URL("managedhsm") + "/.default"}}); st != 400 {
		t.Fatalf("disabled user refresh: %d", st)
	}
	if st := listKeys(t, s, tok); st != 401 {
		t.Fatalf("disabled user's token: %d, want 401", st)
	}

	// Delete an SP: its cached token stops working, and no new token.
	appID, spID, secret := newApp(t, gc, "doomed")
	assign(t, s, rbac.RoleCryptoUser, spID)
	spTok, err := s.Token(appID, secret, "managedhsm")
	if err != nil {
		t.Fatal(err)
	}
	if st := listKeys(t, s, spTok); st != 200 {
		t.Fatalf("sp token: %d", st)
	}
	if err := gc.ServicePrincipals().ByServicePrincipalId(spID).Delete(ctx, nil); err != nil {
		t.Fatal(describe(err))
	}
	if st := listKeys(t, s, spTok); st != 401 {
		t.Fatalf("deleted SP's cached token: %d, want 401", st)
	}
	if _, err := s.Token(appID, secret, "managedhsm"); err == nil {
		t.Fatal("deleted SP got a token")
	}
}

// TestPasswordAndRefreshGrants covers the user flows and the ADFS-style
// endpoints az uses.
func TestPasswordAndRefreshGrants(t *testing.T) {
	s := start(t, nil)
	gc := devGraph(t, s)
	newUser(t, gc, upn(s, "ada"), "Ada", "Analytical-Engine-1843")
	st, tr := passwordToken(t, s, upn(s, "ada"), "Analytical-Engine-1843", "managedhsm")
	if st != 200 || str(tr, "refresh_token") == "" || str(tr, "id_token") == "" {
		t.Fatalf("password grant: %d %v", st, tr)
	}
	refresh := func(rt, client string) (int, map[string]any) {
		return form(t, s, tokenPath(s), url.Values{"grant_type": {"refresh_token"}, "client_id": {client},
			"refresh_token": {rt}, "scope": {s.URL("graph") + "/.default"}})
	}
	st, r2 := refresh(str(tr, "refresh_token"), "6d68736d-636c-4900-8000-000000000001")
	if st != 200 || claimsOf(str(r2, "access_token"))["aud"] != s.URL("graph") {
		t.Fatalf("refresh: %d %v", st, r2)
	}
	if st, _ := refresh(str(tr, "refresh_token"), "6d68736d-636c-4900-8000-000000000001"); st != 400 {
		t.Fatalf("refresh token reused: %d", st)
	}
	if st, _ := refresh(str(r2, "refresh_token"), "04b07795-8ddb-461a-bbee-02f9e1bf7b46"); st != 400 {
		t.Fatalf("refresh token of another client: %d", st)
	}
	// A password change revokes earlier refresh tokens.
	_, r3 := passwordToken(t, s, upn(s, "ada"), "Analytical-Engine-1843", "managedhsm")
	pw := "Difference-Engine-1822"
	if _, err := s.App.Directory().UpdateUser(context.Background(), s.Dev.TenantID, upn(s, "ada"), directory.UserPatch{Password: &pw}); err != nil {
		t.Fatal(err)
	}
	if st, _ := refresh(str(r3, "refresh_token"), "6d68736d-636c-4900-8000-000000000001"); st != 400 {
		t.Fatalf("refresh after a password change: %d", st)
	}
	// A confidential client (no public-client flag) may not use the
	// password grant without its secret.
	appID, _, _ := newApp(t, gc, "confidential")
	st, _ = form(t, s, tokenPath(s), url.Values{"grant_type": {"password"}, "client_id": {appID}, "username": {upn(s, "ada")},
		"password": {"Analytical-Engine-1843"}, "scope": {s.URL("managedhsm") + "/.default"}})
	if st != 401 {
		t.Fatalf("password grant through a confidential client: %d", st)
	}
	// ADFS-style endpoints: tenant inferred from the client id or domain.
	resp, err := s.Client().Get(s.URL("login") + "/adfs/.well-known/openid-configuration")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("adfs discovery: %v", err)
	}
	resp.Body.Close()
	if st, m := form(t, s, "/adfs/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {s.Dev.ClientID},
		"client_secret": {s.Dev.ClientSecret}, "scope": {s.URL("management") + "//.default"}}); st != 200 {
		t.Fatalf("adfs client credentials: %d %v", st, m)
	}
	if st, m := form(t, s, "/adfs/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {"04b07795-8ddb-461a-bbee-02f9e1bf7b46"},
		"username": {upn(s, "ada")}, "password": {pw}, "scope": {s.URL("managedhsm") + "/.default"}}); st != 200 {
		t.Fatalf("adfs password: %d %v", st, m)
	}
	// Tenant by verified domain in the path.
	if st, m := form(t, s, "/"+s.Config().Domain+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {s.Dev.ClientID}, "client_secret": {s.Dev.ClientSecret}, "scope": {s.URL("managedhsm") + "/.default"}}); st != 200 {
		t.Fatalf("tenant by domain: %d %v", st, m)
	}
}

// TestBadCredentialsRevealNothing: unknown users, wrong passwords and
// unknown clients get the same answer; the retry budget locks known and
// unknown names alike.
func TestBadCredentialsRevealNothing(t *testing.T) {
	s := start(t, nil)
	gc := devGraph(t, s)
	newUser(t, gc, upn(s, "ada"), "Ada", "Analytical-Engine-1843")
	_, known := passwordToken(t, s, upn(s, "ada"), "wrong-password-1", "managedhsm")
	_, unknown := passwordToken(t, s, upn(s, "nobody"), "wrong-password-1", "managedhsm")
	_, otherDomain := passwordToken(t, s, "ada@elsewhere.test", "wrong-password-1", "managedhsm")
	if known["error_description"] != unknown["error_description"] || known["error"] != "invalid_grant" || known["error_description"] != otherDomain["error_description"] {
		t.Fatalf("answers differ: %v / %v / %v", known, unknown, otherDomain)
	}
	_, c1 := form(t, s, tokenPath(s), url.Values{"grant_type": {"client_credentials"}, "client_id": {s.Dev.ClientID},
		"client_secret": {"wrong"}, "scope": {s.URL("managedhsm") + "/.default"}})
	_, c2 := form(t, s, tokenPath(s), url.Values{"grant_type": {"client_credentials"}, "client_id": {"00000000-0000-0000-0000-00000000abcd"},
		"client_secret": {"wrong"}, "scope": {s.URL("managedhsm") + "/.default"}})
	if c1["error_description"] != c2["error_description"] {
		t.Fatalf("client answers differ: %v / %v", c1, c2)
	}
	// Exhaust the budget (10 per 5 minutes): for ada (known, case
	// variants) and for a name that does not exist.
	for i := 0; i < 9; i++ {
		passwordToken(t, s, strings.ToUpper(upn(s, "ada")), "wrong-password-1", "managedhsm")
		passwordToken(t, s, upn(s, "nobody"), "wrong-password-1", "managedhsm")
	}
	st, locked := passwordToken(t, s, upn(s, "ada"), "Analytical-Engine-1843", "managedhsm")
	_, lockedUnknown := passwordToken(t, s, upn(s, "nobody"), "whatever-123", "managedhsm")
	if st != 400 || !strings.Contains(str(locked, "error_description"), "AADSTS50053") || locked["error_description"] != lockedUnknown["error_description"] {
		t.Fatalf("lockout: %d %v / %v", st, locked, lockedUnknown)
	}
}

// TestTamperedTokensOverHTTPS sends the tampering suite to the data plane
// and Graph: every mutation is a 401 with the same body (but for the
// activity id) and the same challenge.
func TestTamperedTokensOverHTTPS(t *testing.T) {
	s := start(t, nil)
	ctx := context.Background()
	other, err := s.App.Directory().CreateTenant(ctx, "Other", "other.test")
	if err != nil {
		t.Fatal(err)
	}
	good, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	if st := listKeys(t, s, good); st != 200 {
		t.Fatalf("good token: %d", st)
	}
	in := tokentest.Input{
		Good: good,
		SignClaims: func(c map[string]any) string {
			tok, err := s.App.Issuer().SignJWT(ctx, s.Dev.TenantID, c)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
		OtherTenant: other.ID, OtherIssuer: s.URL("login") + "/" + other.ID + "/v2.0", OtherAudience: s.URL("management"),
	}
	set, err := s.App.Issuer().JWKS(ctx, s.Dev.TenantID) // the published key, for HS256 key confusion
	if err != nil || len(set.Keys) == 0 {
		t.Fatal(err)
	}
	in.Public = set.Keys[0].Key.(*rsa.PublicKey)
	for _, c := range tokentest.Controls(in) {
		if st := listKeys(t, s, c.Token); st != 200 {
			t.Fatalf("control %s: %d", c.Name, st)
		}
	}
	muts := tokentest.Build(in)
	if len(muts) < 50 {
		t.Fatalf("%d mutations", len(muts))
	}
	// A valid token of another tenant is refused by this tenant's HSM.
	otherSP, _ := s.App.Directory().CreateServicePrincipal(ctx, other.ID, "x")
	otherSecret, _ := s.App.Directory().AddSecret(ctx, other.ID, otherSP.AppID, time.Hour)
	st, tr := form(t, s, "/"+other.ID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {otherSP.AppID},
		"client_secret": {otherSecret}, "scope": {s.URL("managedhsm") + "/.default"}})
	if st != 200 {
		t.Fatal(tr)
	}
	muts = append(muts, tokentest.Mutation{Name: "valid token of another tenant", Token: str(tr, "access_token")})

	var wantBody, wantChallenge string
	checked := 0
	for _, mu := range muts {
		req, _ := http.NewRequest("GET", s.HSMURL("dev")+"/keys?api-version=7.4", nil)
		req.Header.Set("Authorization", "Bearer "+mu.Token)
		resp, err := s.Client().Do(req)
		if err != nil {
			// Tokens with bytes no HTTP header may carry never reach us.
			if strings.Contains(err.Error(), "invalid header field value") {
				continue
			}
			t.Fatalf("%s: %v", mu.Name, err)
		}
		b := readAll(resp)
		body := activity.ReplaceAllString(b, "ID")
		if resp.StatusCode == 431 && len(mu.Token) > 64<<10 {
			continue // over the server's header limit: refused before authentication
		}
		if resp.StatusCode != 401 {
			t.Errorf("%s: status %d", mu.Name, resp.StatusCode)
			continue
		}
		if wantBody == "" {
			wantBody, wantChallenge = body, resp.Header.Get("WWW-Authenticate")
		}
		if body != wantBody || resp.Header.Get("WWW-Authenticate") != wantChallenge {
			t.Errorf("%s: body %q / challenge %q differ", mu.Name, body, resp.Header.Get("WWW-Authenticate"))
		}
		checked++
	}
	if checked < 50 {
		t.Fatalf("only %d mutations reached the server", checked)
	}
	t.Logf("%d of %d mutations answered 401 with one body over HTTPS: %s", checked, len(muts), wantBody)
	// Graph answers the same way.
	for _, mu := range muts {
		if strings.ContainsAny(mu.Token, "\x00") || len(mu.Token) > 64<<10 {
			continue
		}
		if st, _ := graphRaw(t, s, mu.Token, "GET", "/v1.0/users", nil); st != 401 {
			t.Errorf("graph %s: %d", mu.Name, st)
		}
	}
}

// TestGroupsOverage: past 200 groups a token names where to read them
// instead of listing them, and the data plane still finds them.
func TestGroupsOverage(t *testing.T) {
	s := start(t, nil)
	ctx := context.Background()
	d := s.App.Directory()
	tid := s.Dev.TenantID
	gc := devGraph(t, s)
	appID, spID, secret := newApp(t, gc, "member-of-many")
	var last string
	for i := 0; i < 201; i++ {
		g, err := d.CreateGroup(ctx, tid, directory.NewGroup{DisplayName: fmt.Sprintf("g%03d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.AddMember(ctx, tid, g.ID, spID); err != nil {
			t.Fatal(err)
		}
		last = g.ID
	}
	tok, err := s.Token(appID, secret, "managedhsm")
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(tok)
	if _, ok := c["groups"]; ok {
		t.Fatal("groups listed past the overage limit")
	}
	names, _ := c["_claim_names"].(map[string]any)
	if names["groups"] != "src1" || c["_claim_sources"] == nil {
		t.Fatalf("overage claims: %v", c)
	}
	assign(t, s, rbac.RoleCryptoUser, last)
	if st := listKeys(t, s, tok); st != 200 {
		t.Fatalf("role through the 201st group: %d", st)
	}
	// The overage endpoint answers.
	graphTok, _ := s.Token(appID, secret, "graph")
	st, m := graphRaw(t, s, graphTok, "POST", "/v1.0/directoryObjects/"+spID+"/getMemberObjects", map[string]any{"securityEnabledOnly": true})
	if st != 200 || len(m["value"].([]any)) != 201 {
		t.Fatalf("getMemberObjects: %d", st)
	}
}
