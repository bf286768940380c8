package security

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/testserver"
)

// TestRefreshTokenNeedsClientAuthentication is issue #14.6 (a): a refresh
// token issued to a confidential client (password grant with its secret)
// used to redeem with the client id alone. Now it needs the secret again,
// and a wrong secret is refused before the token is consumed.
func TestRefreshTokenNeedsClientAuthentication(t *testing.T) {
	s := testserver.Start(t, nil)
	ctx := context.Background()
	dir := s.App.Directory()
	sp, err := dir.CreateServicePrincipal(ctx, s.Dev.TenantID, "confidential web app")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := dir.AddSecret(ctx, s.Dev.TenantID, sp.AppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const pw = "Correct-horse-battery-9"
	upn := "grace@" + s.Config().Domain
	if _, err := dir.CreateUser(ctx, s.Dev.TenantID, directory.NewUser{UserPrincipalName: upn, DisplayName: "Grace", Password: pw, AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	scope := s.URL("managedhsm") + "/.default offline_access"
	st, m := tokenForm(t, s, c, url.Values{"grant_type": {"password"}, "client_id": {sp.AppID}, "client_secret": {secret},
		"username": {upn}, "password": {pw}, "scope": {scope}})
	rt := str(m, "refresh_token")
	if st != 200 || rt == "" {
		t.Fatalf("password grant of a confidential client: %d %v", st, m)
	}
	refresh := func(extra url.Values) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "client_id": {sp.AppID}, "refresh_token": {rt}, "scope": {scope}}
		for k, v := range extra {
			f[k] = v
		}
		return tokenForm(t, s, c, f)
	}
	if st, m := refresh(nil); st != 401 || str(m, "error") != "invalid_client" {
		t.Fatalf("refresh without the client secret: %d %v, want 401 invalid_client", st, m)
	}
	if st, m := refresh(url.Values{"client_secret": {"not-the-secret"}}); st != 401 {
		t.Fatalf("refresh with a wrong client secret: %d %v, want 401", st, m)
	}
	st, m = refresh(url.Values{"client_secret": {secret}})
	if st != 200 || str(m, "refresh_token") == "" {
		t.Fatalf("refresh with the client secret (the token must not have been consumed by the refused attempts): %d %v", st, m)
	}
	// The new refresh token carries the same requirement.
	rt = str(m, "refresh_token")
	if st, m := refresh(nil); st != 401 {
		t.Fatalf("second-generation refresh token without the secret: %d %v", st, m)
	}

	// A public client's refresh token still redeems without a secret.
	st, m = tokenForm(t, s, c, url.Values{"grant_type": {"password"}, "client_id": {directory.MHSMCLIClientID},
		"username": {upn}, "password": {pw}, "scope": {scope}})
	if st != 200 {
		t.Fatalf("public client password grant: %d %v", st, m)
	}
	if st, m := tokenForm(t, s, c, url.Values{"grant_type": {"refresh_token"}, "client_id": {directory.MHSMCLIClientID},
		"refresh_token": {str(m, "refresh_token")}, "scope": {scope}}); st != 200 {
		t.Fatalf("public client refresh: %d %v", st, m)
	}
}

// TestAssertionReplayCacheIsPerClient is issue #14.6 (b): one shared
// 50,000-entry replay cache failed closed for every client once one client
// (with a valid certificate, minting assertions) filled it. Each client now
// has its own bound: a client that filled its share does not stop another
// client's certificate sign-in.
func TestAssertionReplayCacheIsPerClient(t *testing.T) {
	s := testserver.Start(t, nil)
	ctx := context.Background()
	// The noisy client's assertions, as the token endpoint records them
	// after verifying their signatures: 50,000 distinct ids.
	exp := time.Now().Add(time.Hour)
	for i := 0; i < 50000; i++ {
		s.App.Verifier().AssertionReplayed("0d15ea5e-0000-4000-8000-000000000001", strconv.Itoa(i), exp)
	}
	if !s.App.Verifier().AssertionReplayed("0d15ea5e-0000-4000-8000-000000000001", "fresh", exp) {
		t.Fatal("the noisy client is past its share and still accepted")
	}

	// Another client signs in with its certificate through azidentity.
	sp, err := s.App.Directory().CreateServicePrincipal(ctx, s.Dev.TenantID, "workload")
	if err != nil {
		t.Fatal(err)
	}
	cert, key := selfSigned(t)
	if _, err := s.App.Directory().AddCertificate(ctx, s.Dev.TenantID, sp.AppID, "workload cert", cert.Raw); err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewClientCertificateCredential(s.Dev.TenantID, sp.AppID, []*x509.Certificate{cert}, key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: azcore.ClientOptions{
			Transport: &http.Client{Transport: s.Transport()},
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL("login") + "/"},
			Retry:     policy.RetryOptions{MaxRetries: -1},
		}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.URL("managedhsm") + "/.default"}}); err != nil {
		t.Fatalf("certificate sign-in of another client while one client filled its replay share: %v", err)
	}
}

func selfSigned(t *testing.T) (*x509.Certificate, any) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "workload"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, k
}

// TestTokenAuditRecordsOnlyRealUsernames is issue #14.6 (c): the token
// request's audit record kept the username in clear whenever it looked
// like a UPN, so a password typed into the user field ("P@ssw0rd") landed
// in the log. Now it is in clear only when it names a user of the tenant.
func TestTokenAuditRecordsOnlyRealUsernames(t *testing.T) {
	s := testserver.Start(t, nil)
	ctx := context.Background()
	upn := "linus@" + s.Config().Domain
	if _, err := s.App.Directory().CreateUser(ctx, s.Dev.TenantID, directory.NewUser{UserPrincipalName: upn, DisplayName: "Linus",
		Password: "Correct-horse-battery-9", AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	post := func(username string) string {
		t.Helper()
		resp, err := s.Client().PostForm(s.URL("login")+"/"+s.Dev.TenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"},
			"client_id": {directory.MHSMCLIClientID}, "username": {username}, "password": {"wrong-password-1"}, "scope": {s.URL("managedhsm") + "/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("wrong password for %q: %d", username, resp.StatusCode)
		}
		return resp.Header.Get("x-ms-request-id")
	}
	cases := []struct {
		username string
		clear    bool
	}{
		{"Tr0ub4dor@3", false},                  // a password in the user field that looks like a UPN
		{"nobody@" + s.Config().Domain, false},  // a UPN-shaped name of no user
		{upn, true},                             // a real user's UPN
		{strings.ToUpper(upn), true},            // …in another case
		{"P@ssw0rd-in-the-user-field!!", false}, // not UPN-shaped at all
	}
	ids := map[string]int{}
	for i, c := range cases {
		ids[post(c.username)] = i
	}
	seen := 0
	srcs, err := audit.FindSources(ctx, audit.DirFiles(s.App.Audit().Dir()), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range srcs {
		if err := src.Query(ctx, &audit.Filter{}, func(r *audit.Record) error {
			i, ok := ids[r.ID]
			if !ok {
				return nil
			}
			seen++
			c := cases[i]
			var line struct {
				Properties map[string]any `json:"properties"`
			}
			if err := json.Unmarshal(r.Raw, &line); err != nil {
				t.Fatal(err)
			}
			got, inClear := line.Properties["username"]
			_, hashed := line.Properties["usernameHash"]
			switch {
			case c.clear && (!inClear || got != c.username):
				t.Errorf("%q: the record does not name the user: %v", c.username, line.Properties)
			case !c.clear && (inClear || !hashed):
				t.Errorf("%q: recorded in clear (or not hashed): %v", c.username, line.Properties)
			}
			if !c.clear && strings.Contains(string(r.Raw), c.username) {
				t.Errorf("%q appears in the record: %s", c.username, r.Raw)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if seen != len(cases) {
		t.Fatalf("found %d of %d token request records", seen, len(cases))
	}
}
