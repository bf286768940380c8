package double

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
)

// devPaths are every dev route, by method.
var devPaths = []struct{ method, path string }{
	{"GET", "/mhsm/dev/clock"}, {"POST", "/mhsm/dev/clock"},
	{"GET", "/mhsm/dev/faults"}, {"POST", "/mhsm/dev/faults"}, {"DELETE", "/mhsm/dev/faults"},
	{"POST", "/mhsm/dev/export"},
}

// TestDevRoutesAbsentWithoutDev: a server started without --dev answers
// 404 on every dev route, even to the HSM's Administrator, whose token the
// same HSM accepts on a real route.
func TestDevRoutesAbsentWithoutDev(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := config.Default()
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	a, err := testserver.NewApp(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() { cancel(); _ = a.Close(); <-done })

	dir := a.Directory()
	ten, err := dir.CreateTenant(ctx, "absent", "absent.example")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := dir.CreateServicePrincipal(ctx, ten.ID, "admin")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := dir.AddSecret(ctx, ten.ID, sp.AppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.HSMs().Create(ctx, hsm.CreateParams{Name: "plain", TenantID: ten.ID, Activated: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.HSMs().Assign(ctx, h, rbac.RoleAssignment{ID: uuid.NewString(), Scope: "/", RoleDefinitionID: rbac.RoleAdministrator, PrincipalID: sp.ObjectID}); err != nil {
		t.Fatal(err)
	}

	client := loopbackClient(t, a.Addr().String(), a.CAFile)
	tok := clientCredentialsToken(t, client, a.Config.URL("login")+"/"+ten.ID, sp.AppID, secret, a.Config.URL("managedhsm"))
	base := a.Config.URL("plain.managedhsm")
	if st := call(t, client, "GET", base+"/settings?api-version=7.6", tok); st != http.StatusOK {
		t.Fatalf("GET /settings as Administrator = %d, want 200 (the token must work)", st)
	}
	for _, p := range devPaths {
		if st := call(t, client, p.method, base+p.path+"?api-version=7.6", tok); st != http.StatusNotFound {
			t.Errorf("%s %s without --dev = %d, want 404", p.method, p.path, st)
		}
	}
}

// TestDevFlagsRefusedWithoutDev: --ephemeral and --seed are refused at
// start without --dev, with an error that says so.
func TestDevFlagsRefusedWithoutDev(t *testing.T) {
	for _, mod := range []func(*config.Server){
		func(c *config.Server) { c.Ephemeral = true },
		func(c *config.Server) { c.Seed = "state.json" },
	} {
		cfg := config.Default()
		cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
		mod(&cfg)
		a, err := testserver.NewApp(context.Background(), cfg)
		if err == nil {
			_ = a.Close()
			t.Fatal("a dev-only setting was accepted without --dev")
		}
		if !strings.Contains(err.Error(), "needs --dev") {
			t.Fatalf("error %q does not say the setting needs --dev", err)
		}
	}
}

// TestDevRoutesGoThroughAuthorization: in dev mode the dev routes still
// need a token (401 without) and the right role (403 for a Crypto User,
// who may use keys but not change settings).
func TestDevRoutesGoThroughAuthorization(t *testing.T) {
	s := testserver.Start(t, func(c *config.Server) { c.Ephemeral = true })
	ctx := context.Background()
	dir := s.App.Directory()
	sp, err := dir.CreateServicePrincipal(ctx, s.Dev.TenantID, "crypto-user")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := dir.AddSecret(ctx, s.Dev.TenantID, sp.AppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := s.App.HSMs().Get("dev")
	if _, err := s.App.HSMs().Assign(ctx, h, rbac.RoleAssignment{ID: uuid.NewString(), Scope: "/", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: sp.ObjectID}); err != nil {
		t.Fatal(err)
	}
	userTok, err := s.Token(sp.AppID, secret, "managedhsm")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range devPaths {
		u := s.HSMURL("dev") + p.path
		if st, _, err := s.Call("", p.method, u, nil); err != nil || st != http.StatusUnauthorized {
			t.Errorf("%s %s without a token = %d (%v), want 401", p.method, p.path, st, err)
		}
		if st, _, err := s.Call(userTok, p.method, u, nil); err != nil || st != http.StatusForbidden {
			t.Errorf("%s %s as Crypto User = %d (%v), want 403", p.method, p.path, st, err)
		}
	}
}

// loopbackClient trusts caFile and dials addr for every host.
func loopbackClient(t *testing.T, addr, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate")
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func clientCredentialsToken(t *testing.T, c *http.Client, authority, clientID, secret, resource string) string {
	t.Helper()
	resp, err := c.PostForm(authority+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {clientID}, "client_secret": {secret}, "scope": {resource + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	return tr.AccessToken
}

func call(t *testing.T, c *http.Client, method, u, tok string) int {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
