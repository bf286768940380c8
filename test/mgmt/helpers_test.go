// Package mgmt tests mhsm's management plane (management.<domain>) through
// the real HTTPS server, started in-process in dev mode, with the
// unmodified Azure SDK for Go resource-manager clients — armresources,
// armkeyvault, armauthorization/v2 and armmonitor — whose only options are
// the transport (trusting the dev CA, dialing the listener) and the cloud
// (authority host, resource manager endpoint and audience).
package mgmt

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/securitydomain"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

const api = "?api-version=7.4"

// cloudConfig names mhsm's authority and resource manager; with the
// transport it is the only option the clients get.
func cloudConfig(s *testserver.Server) cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: s.URL("login") + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: s.URL("management"), Audience: s.URL("management")},
		},
	}
}

func clientOptions(s *testserver.Server) azcore.ClientOptions {
	return azcore.ClientOptions{Transport: &http.Client{Transport: s.Transport()}, Cloud: cloudConfig(s)}
}

func armOptions(s *testserver.Server) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: clientOptions(s)}
}

// spCredential is a service principal signing in with its secret.
func spCredential(t *testing.T, s *testserver.Server, clientID, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(s.Dev.TenantID, clientID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func devCredential(t *testing.T, s *testserver.Server) azcore.TokenCredential {
	return spCredential(t, s, s.Dev.ClientID, s.Dev.ClientSecret)
}

// passwordCredential signs a user in with the password grant through the
// mhsm CLI's public client, as `az login -u` does.
type passwordCredential struct {
	s             *testserver.Server
	upn, password string
	mu            sync.Mutex
	cache         map[string]azcore.AccessToken
}

func (c *passwordCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	scope := strings.Join(o.Scopes, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if tk, ok := c.cache[scope]; ok && time.Until(tk.ExpiresOn) > time.Minute {
		return tk, nil
	}
	form := url.Values{"grant_type": {"password"}, "client_id": {directory.MHSMCLIClientID}, "username": {c.upn}, "password": {c.password}, "scope": {scope}}
	req, err := http.NewRequestWithContext(ctx, "POST", c.s.URL("login")+"/"+c.s.Dev.TenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.s.Client().Do(req)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		return azcore.AccessToken{}, errors.New("password grant failed: " + tr.Error)
	}
	tk := azcore.AccessToken{Token: tr.AccessToken, ExpiresOn: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)}
	c.cache[scope] = tk
	return tk, nil
}

// user is a directory user with a password credential.
type user struct {
	oid  string
	cred azcore.TokenCredential
}

func newUser(t *testing.T, s *testserver.Server, name string) user {
	t.Helper()
	const pw = "Correct-horse-battery-9"
	u, err := s.App.Directory().CreateUser(context.Background(), s.Dev.TenantID, directory.NewUser{
		UserPrincipalName: name + "@" + s.Config().Domain, DisplayName: name, Password: pw, AccountEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	return user{oid: u.ID, cred: &passwordCredential{s: s, upn: u.UserPrincipalName, password: pw, cache: map[string]azcore.AccessToken{}}}
}

// newSP makes a service principal with a secret.
func newSP(t *testing.T, s *testserver.Server, name string) user {
	t.Helper()
	ctx := context.Background()
	sp, err := s.App.Directory().CreateServicePrincipal(ctx, s.Dev.TenantID, name)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := s.App.Directory().AddSecret(ctx, s.Dev.TenantID, sp.AppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return user{oid: sp.ObjectID, cred: spCredential(t, s, sp.AppID, secret)}
}

func newGroup(t *testing.T, s *testserver.Server, name string, members ...string) string {
	t.Helper()
	ctx := context.Background()
	g, err := s.App.Directory().CreateGroup(ctx, s.Dev.TenantID, directory.NewGroup{DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if err := s.App.Directory().AddMember(ctx, s.Dev.TenantID, g.ID, m); err != nil {
			t.Fatal(err)
		}
	}
	return g.ID
}

// clients are the resource-manager clients of one principal.
type clients struct {
	groups *armresources.ResourceGroupsClient
	hsms   *armkeyvault.ManagedHsmsClient
	ras    *armauthorization.RoleAssignmentsClient
	rds    *armauthorization.RoleDefinitionsClient
	diag   *armmonitor.DiagnosticSettingsClient
}

func armClients(t *testing.T, s *testserver.Server, cred azcore.TokenCredential) clients {
	t.Helper()
	o := armOptions(s)
	var c clients
	var err error
	if c.groups, err = armresources.NewResourceGroupsClient(s.Dev.SubscriptionID, cred, o); err != nil {
		t.Fatal(err)
	}
	if c.hsms, err = armkeyvault.NewManagedHsmsClient(s.Dev.SubscriptionID, cred, o); err != nil {
		t.Fatal(err)
	}
	if c.ras, err = armauthorization.NewRoleAssignmentsClient(s.Dev.SubscriptionID, cred, o); err != nil {
		t.Fatal(err)
	}
	if c.rds, err = armauthorization.NewRoleDefinitionsClient(cred, o); err != nil {
		t.Fatal(err)
	}
	if c.diag, err = armmonitor.NewDiagnosticSettingsClient(cred, o); err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func createRG(t *testing.T, c clients, name string) {
	t.Helper()
	if _, err := c.groups.CreateOrUpdate(context.Background(), name, armresources.ResourceGroup{Location: ptr("local")}, nil); err != nil {
		t.Fatalf("create resource group %s: %v", name, err)
	}
}

// hsmParams describe a new HSM.
func hsmParams(s *testserver.Server, admins ...string) armkeyvault.ManagedHsm {
	ids := make([]*string, len(admins))
	for i := range admins {
		ids[i] = ptr(admins[i])
	}
	return armkeyvault.ManagedHsm{
		Location: ptr("local"),
		SKU:      &armkeyvault.ManagedHsmSKU{Family: ptr(armkeyvault.ManagedHsmSKUFamilyB), Name: ptr(armkeyvault.ManagedHsmSKUNameStandardB1)},
		Properties: &armkeyvault.ManagedHsmProperties{
			TenantID: ptr(s.Dev.TenantID), InitialAdminObjectIDs: ids, SoftDeleteRetentionInDays: ptr[int32](7), EnablePurgeProtection: ptr(false),
		},
	}
}

func createHSM(t *testing.T, c clients, rg, name string, p armkeyvault.ManagedHsm) armkeyvault.ManagedHsm {
	t.Helper()
	ctx := context.Background()
	poller, err := c.hsms.BeginCreateOrUpdate(ctx, rg, name, p, nil)
	if err != nil {
		t.Fatalf("create HSM %s: %v", name, err)
	}
	res, err := poller.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatalf("create HSM %s: poll: %v", name, err)
	}
	return res.ManagedHsm
}

func deleteHSM(t *testing.T, c clients, rg, name string) {
	t.Helper()
	ctx := context.Background()
	poller, err := c.hsms.BeginDelete(ctx, rg, name, nil)
	if err != nil {
		t.Fatalf("delete HSM %s: %v", name, err)
	}
	if _, err := poller.PollUntilDone(ctx, nil); err != nil {
		t.Fatalf("delete HSM %s: poll: %v", name, err)
	}
}

func purgeHSM(ctx context.Context, c clients, name string) error {
	poller, err := c.hsms.BeginPurgeDeleted(ctx, name, "local", nil)
	if err != nil {
		return err
	}
	_, err = poller.PollUntilDone(ctx, nil)
	return err
}

// respErr returns the status and ARM error code of err.
func respErr(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

func wantErr(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	st, c := respErr(err)
	if st != status || (code != "" && c != code) {
		t.Fatalf("%s: got %d %q (%v), want %d %q", what, st, c, err, status, code)
	}
}

// dataToken is a data-plane token of cred.
func dataToken(t *testing.T, s *testserver.Server, cred azcore.TokenCredential) string {
	t.Helper()
	tk, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{s.URL("managedhsm") + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	return tk.Token
}

var (
	officersOnce sync.Once
	officers     []securitydomain.Officer
)

// activate downloads hsm's security domain (3 officers, quorum 2) as its
// administrator, which activates it.
func activate(t *testing.T, s *testserver.Server, hsm, adminToken string) {
	t.Helper()
	officersOnce.Do(func() {
		for i := range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "officer"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
			if err != nil {
				panic(err)
			}
			c, _ := x509.ParseCertificate(der)
			officers = append(officers, securitydomain.Officer{Key: k, Cert: c})
		}
	})
	required := 2
	ci := wire.CertificateInfo{Required: &required}
	for _, o := range officers {
		j, err := securitydomain.WrappingKeyJWK(o.Cert)
		if err != nil {
			t.Fatal(err)
		}
		ci.Certificates = append(ci.Certificates, j)
	}
	st, b, err := s.Call(adminToken, "POST", s.HSMURL(hsm)+"/securitydomain/download"+api, ci)
	if err != nil || st != 202 {
		t.Fatalf("security domain download on %s: %d %s %v", hsm, st, b, err)
	}
}

// errorCode is the error code (and inner code) of an error body.
func errorCode(b []byte) (string, string) {
	var e wire.Error
	_ = json.Unmarshal(b, &e)
	inner := ""
	if e.Error.InnerError != nil {
		inner = e.Error.InnerError.Code
	}
	return e.Error.Code, inner
}

func tokenOID(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatal("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		OID string `json:"oid"`
	}
	_ = json.Unmarshal(b, &c)
	return c.OID
}

func newGUID() string { return uuid.NewString() }

// mgmtToken is a management-plane token of cred.
func mgmtToken(t *testing.T, s *testserver.Server, cred azcore.TokenCredential) string {
	t.Helper()
	tk, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{s.URL("management") + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	return tk.Token
}

func rgParams(location string) armresources.ResourceGroup {
	return armresources.ResourceGroup{Location: ptr(location)}
}
