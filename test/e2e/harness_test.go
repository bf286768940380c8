// Package e2e drives a real mhsm server, started in-process in dev mode,
// with the unmodified Azure SDK for Go (azkeys + azidentity). The only
// client options used are the transport (trusting the dev CA and dialing
// the listener for every *.mhsm.localhost name) and the dev authority.
package e2e

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// devJSON is <data-dir>/dev.json.
type devJSON = testserver.Dev

// server is one running mhsm (internal/testserver), with the fields the
// tests here read.
type server struct {
	*testserver.Server
	dataDir string
	addr    string // bound listen address, host:port
	port    string
	dev     devJSON
	pool    *x509.CertPool
}

// startServer starts mhsm in dev mode on addr ("127.0.0.1:0" for any port)
// with dataDir, and waits for dev.json.
func startServer(dataDir, addr string) (*server, error) {
	cfg := config.Default()
	cfg.Addr = addr
	cfg.DataDir = dataDir
	cfg.Dev = true
	ts, err := testserver.StartConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &server{Server: ts, dataDir: dataDir, addr: ts.Addr, dev: ts.Dev, pool: ts.Pool}
	_, s.port, _ = net.SplitHostPort(s.addr)
	return s, nil
}

// stop closes the server and waits for it.
func (s *server) stop() { s.Stop() }

// host returns "<sub>.mhsm.localhost:<port>".
func (s *server) host(sub string) string { return sub + ".mhsm.localhost:" + s.port }

// hsmHost is the dev HSM's host with port.
func (s *server) hsmHost() string { return s.host("dev.managedhsm") }

// ctxKeyMaxResults, set on a request context, makes the test transport add
// maxresults to list requests that carry none (azkeys v1.5.0 has no option
// for it); nextLinks then carry it on.
type ctxKeyMaxResults struct{}

func withMaxResults(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, ctxKeyMaxResults{}, n)
}

// transport trusts the dev CA and connects every host name to the server.
type transport struct{ c *http.Client }

func (t transport) Do(req *http.Request) (*http.Response, error) {
	if n, ok := req.Context().Value(ctxKeyMaxResults{}).(int); ok && req.Method == http.MethodGet {
		q := req.URL.Query()
		if q.Get("maxresults") == "" {
			q.Set("maxresults", fmt.Sprint(n))
			req.URL.RawQuery = q.Encode()
		}
	}
	return t.c.Do(req)
}

// httpClient is a plain client that trusts the dev CA and dials the server
// whatever the host name.
func (s *server) httpClient() *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: s.Transport()}
}

func (s *server) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Transport: transport{s.httpClient()},
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.dev.AuthorityHost}}
}

// newCredential is a ClientSecretCredential for dev (secret "" = dev.json's).
func (s *server) newCredential(secret string) (*azidentity.ClientSecretCredential, error) {
	if secret == "" {
		secret = s.dev.ClientSecret
	}
	return azidentity.NewClientSecretCredential(s.dev.TenantID, s.dev.ClientID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: s.clientOptions(), DisableInstanceDiscovery: true})
}

// newClient is an azkeys client for the dev HSM: the transport and the
// authority are the only options.
func (s *server) newClient() (*azkeys.Client, error) {
	cred, err := s.newCredential("")
	if err != nil {
		return nil, err
	}
	return azkeys.NewClient(s.dev.HSMURL, cred, &azkeys.ClientOptions{ClientOptions: s.clientOptions()})
}

func (s *server) credential(t testing.TB, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := s.newCredential(secret)
	must(t, err, "NewClientSecretCredential")
	return cred
}

func (s *server) client(t testing.TB) *azkeys.Client {
	t.Helper()
	c, err := s.newClient()
	must(t, err, "azkeys.NewClient")
	return c
}

// token gets an access token for resource (a URL without /.default).
func (s *server) token(t testing.TB, resource string) string {
	t.Helper()
	tk, err := s.credential(t, "").GetToken(context.Background(), tokenOpts(resource))
	if err != nil {
		t.Fatalf("GetToken(%s): %v", resource, err)
	}
	return tk.Token
}

func tokenOpts(resource string) policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{strings.TrimRight(resource, "/") + "/.default"}}
}

// The shared server most tests use; TestMain stops it.
var (
	sharedOnce sync.Once
	sharedSrv  *server
	sharedErr  error
	sharedDir  string
	sharedCli  *azkeys.Client
)

func shared(t testing.TB) (*server, *azkeys.Client) {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "mhsm-e2e-")
		if sharedErr != nil {
			return
		}
		sharedSrv, sharedErr = startServer(sharedDir, "127.0.0.1:0")
		if sharedErr == nil {
			sharedCli, sharedErr = sharedSrv.newClient()
		}
	})
	if sharedErr != nil {
		t.Fatalf("shared server: %v", sharedErr)
	}
	return sharedSrv, sharedCli
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedSrv != nil {
		sharedSrv.stop()
	}
	if sharedDir != "" {
		_ = os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// ctxT is a per-test context with a deadline.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// name returns a unique key name with prefix.
func name(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// wantStatus fails unless err is an azcore.ResponseError with status code.
func wantStatus(t testing.TB, err error, code int) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want HTTP %d, got error %v", code, err)
	}
	if re.StatusCode != code {
		t.Fatalf("want HTTP %d, got %d (%s): %v", code, re.StatusCode, re.ErrorCode, err)
	}
}

// must fails the test on err.
func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func ptr[T any](v T) *T { return &v }
