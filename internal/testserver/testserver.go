// Package testserver starts a real mhsm server in-process, in dev mode, for
// tests that talk to it over HTTPS the way clients do: a client trusting the
// dev CA that connects every *.<domain> name to the listener. Read
// testserver.go.
package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/app"
	"github.com/mhsm/mhsm/internal/client"
	"github.com/mhsm/mhsm/internal/config"
)

// Dev is <data-dir>/dev.json (client.Dev).
type Dev = client.Dev

// Server is one running mhsm.
type Server struct {
	App  *app.App
	Dev  Dev
	Addr string // host:port the listener is bound to
	Pool *x509.CertPool

	cfg    config.Server
	client *http.Client
	cancel context.CancelFunc
	done   chan error
}

// Start starts a dev-mode server on a free loopback port with a fresh data
// dir and stops it when the test ends. mod, if non-nil, adjusts the
// configuration first.
func Start(t testing.TB, mod func(*config.Server)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Dev = true
	if mod != nil {
		mod(&cfg)
	}
	s, err := StartConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartConfig starts a server with cfg (Dev must be set) and waits for
// dev.json. The caller must Stop it.
func StartConfig(cfg config.Server) (*Server, error) { return StartConfigWrapped(cfg, nil) }

// StartConfigWrapped is StartConfig with the server's HTTPS handler
// wrapped by wrap (nil: none), for suites that record every request.
func StartConfigWrapped(cfg config.Server, wrap func(http.Handler) http.Handler) (*Server, error) {
	devPath := filepath.Join(cfg.DataDir, "dev.json")
	if err := os.Remove(devPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	if wrap != nil {
		a.WrapHandler(wrap)
	}
	s := &Server{App: a, Addr: a.Addr().String(), cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.Serve(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(devPath)
		if err == nil && json.Unmarshal(b, &s.Dev) == nil && s.Dev.ClientSecret != "" {
			break
		}
		select {
		case err := <-s.done:
			s.Stop()
			return nil, fmt.Errorf("server exited before writing dev.json: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("timed out waiting for dev.json")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pem, err := os.ReadFile(s.Dev.CAFile)
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.Pool = x509.NewCertPool()
	if !s.Pool.AppendCertsFromPEM(pem) {
		s.Stop()
		return nil, errors.New("caFile holds no certificate")
	}
	s.client = &http.Client{Transport: s.Transport(), Timeout: 60 * time.Second}
	return s, nil
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	if s.App == nil {
		return
	}
	s.cancel()
	_ = s.App.Close()
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
	}
	s.App = nil
}

// Config returns the server's configuration (with the bound port).
func (s *Server) Config() *config.Server { return s.App.Config }

// URL returns https://<sub>.<domain>:<port>.
func (s *Server) URL(sub string) string { return s.App.Config.URL(sub) }

// HSMURL returns the base URL of HSM name (no trailing slash).
func (s *Server) HSMURL(name string) string { return s.URL(name + ".managedhsm") }

// Transport trusts the dev CA and connects every host to the listener.
func (s *Server) Transport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.Pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, s.Addr)
		},
		MaxIdleConnsPerHost: 64,
		ForceAttemptHTTP2:   true,
	}
}

// Client returns the server's shared HTTP client (using Transport).
func (s *Server) Client() *http.Client { return s.client }

// Token gets an access token for resource ("managedhsm", "management",
// "graph") with the client-credentials grant.
func (s *Server) Token(clientID, secret, resource string) (string, error) {
	return s.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
		"scope": {s.URL(resource) + "/.default"}})
}

// DevToken is a data-plane token of the dev service principal.
func (s *Server) DevToken() (string, error) {
	return s.Token(s.Dev.ClientID, s.Dev.ClientSecret, "managedhsm")
}

// Call makes an authenticated JSON request and returns status and body.
func (s *Server) Call(token, method, url string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		case []byte:
			rd = strings.NewReader(string(b))
		default:
			j, err := json.Marshal(body)
			if err != nil {
				return 0, nil, err
			}
			rd = strings.NewReader(string(j))
		}
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// PasswordToken signs a user in through the mhsm CLI's public client
// (password grant) and returns an access token for resource.
func (s *Server) PasswordToken(upn, password, resource string) (string, error) {
	form := url.Values{"grant_type": {"password"}, "client_id": {"6d68736d-636c-4900-8000-000000000001"},
		"username": {upn}, "password": {password}, "scope": {s.URL(resource) + "/.default"}}
	return s.tokenRequest(form)
}

// IdentityToken gets a token for a managed identity from the App Service
// style endpoint (the server must run with MSIAddr set).
func (s *Server) IdentityToken(header, resource string) (string, error) {
	addr := s.App.MSIAddr()
	if addr == nil {
		return "", errors.New("the server has no managed identity endpoint (set MSIAddr)")
	}
	req, err := http.NewRequest("GET", "http://"+addr.String()+"/msi/token?api-version=2019-08-01&resource="+url.QueryEscape(s.URL(resource)), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-IDENTITY-HEADER", header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	return decodeToken(resp)
}

func (s *Server) tokenRequest(form url.Values) (string, error) {
	resp, err := s.Client().PostForm(s.URL("login")+"/"+s.Dev.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		return "", err
	}
	return decodeToken(resp)
}

func decodeToken(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("token: %d %s", resp.StatusCode, b)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		return "", err
	}
	return tr.AccessToken, nil
}

// WithEtcd configures a node of a cluster sharing an etcd store: every
// node given the same endpoints, prefix and root key file sees the same
// directory, HSMs and keys (docs/scale.md). Use it as Start's mod.
func WithEtcd(endpoints []string, prefix, rootKeyFile string) func(*config.Server) {
	return func(c *config.Server) {
		c.Store = config.StoreEtcd
		c.Etcd.Endpoints = endpoints
		c.Etcd.Prefix = prefix
		c.RootKeyFile = rootKeyFile
	}
}

// NewApp builds the server of cfg as `mhsm server` does, for tests of a
// server that is not in dev mode (Start needs dev mode's dev.json). The
// caller serves and closes it. Tests reach the composition root only
// through this package (internal/layering).
func NewApp(ctx context.Context, cfg config.Server) (*app.App, error) { return app.New(ctx, cfg) }
