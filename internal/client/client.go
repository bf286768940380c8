// Package client is the reusable plumbing of mhsm's command line: the
// signed-in profile and token cache, token acquisition for every kind of
// login, an HTTP client for a server with a private CA, and a small JSON
// caller. A Session is the one way the CLI talks to a server: Open for the
// signed-in profile, NewSession for an unsaved one (a dev.json, explicit
// credentials; tokens in memory); both dial through Dial, which honours
// MHSM_CONNECT and MHSM_CA_FILE. Commands of every group (ad, identity,
// keys, roles…) get their session from cmd/mhsm/conn.go; output
// formatting lives with the commands (cmd/mhsm/output.go).
//
// Configuration directory: $MHSM_CONFIG_DIR, default ~/.mhsm, holding
// profile.json (the login, 0600: it may contain a client secret, a refresh
// token or an identity header, as az's own profile does) and tokens.json
// (cached access tokens per resource, 0600).
//
// Environment:
//
//	MHSM_CONFIG_DIR   configuration directory (default ~/.mhsm)
//	MHSM_CA_FILE      PEM CA bundle to trust besides the system roots
//	                  (default: the profile's caFile)
//	MHSM_CONNECT      host:port to dial for every host name, e.g.
//	                  127.0.0.1:8443 (no /etc/hosts entries needed)
//	IDENTITY_ENDPOINT, IDENTITY_HEADER   managed identity login
//
// Read client.go (profile, HTTP), then auth.go (tokens), call.go.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Login kinds.
const (
	KindSecret      = "servicePrincipalSecret"
	KindCertificate = "servicePrincipalCertificate"
	KindUser        = "user"
	KindIdentity    = "managedIdentity"
)

// Profile is the signed-in account.
type Profile struct {
	// Authority is the token issuer's base URL,
	// https://login.<domain>[:port].
	Authority string `json:"authority"`
	TenantID  string `json:"tenantId"`
	Kind      string `json:"kind"`
	ClientID  string `json:"clientId,omitempty"`
	Secret    string `json:"clientSecret,omitempty"`
	// CertFile is a PEM file with the certificate and its private key.
	CertFile         string `json:"certificateFile,omitempty"`
	Username         string `json:"username,omitempty"`
	RefreshToken     string `json:"refreshToken,omitempty"`
	IdentityEndpoint string `json:"identityEndpoint,omitempty"`
	IdentityHeader   string `json:"identityHeader,omitempty"`
	CAFile           string `json:"caFile,omitempty"`
}

// ErrNotLoggedIn is returned when there is no profile.
var ErrNotLoggedIn = errors.New("not logged in: run mhsm login")

// Dir is the configuration directory.
func Dir() (string, error) {
	if d := os.Getenv("MHSM_CONFIG_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".mhsm"), nil
}

func file(name string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, name), nil
}

// LoadProfile reads the profile, or ErrNotLoggedIn.
func LoadProfile() (*Profile, error) {
	p, err := file("profile.json")
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, err
	}
	var pr Profile
	if err := json.Unmarshal(b, &pr); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &pr, nil
}

// Save writes the profile (0600) and clears the token cache.
func (p *Profile) Save() error {
	if err := writePrivate("profile.json", p); err != nil {
		return err
	}
	return writePrivate("tokens.json", map[string]cachedToken{})
}

// SaveKeepTokens writes the profile (0600) and keeps the token cache.
func (p *Profile) SaveKeepTokens() error { return writePrivate("profile.json", p) }

// Logout removes the profile and the token cache.
func Logout() error {
	for _, n := range []string{"profile.json", "tokens.json"} {
		p, err := file(n)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func writePrivate(name string, v any) error {
	d, err := Dir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d, "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(d, name))
}

// ResourceURL returns https://<sub>.<domain>[:port] for the profile's
// authority https://login.<domain>[:port] (sub is "graph", "managedhsm",
// "management", or "<hsm>.managedhsm").
func (p *Profile) ResourceURL(sub string) (string, error) {
	u, err := url.Parse(p.Authority)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("authority %q is not a URL", p.Authority)
	}
	rest, ok := strings.CutPrefix(u.Host, "login.")
	if !ok {
		return "", fmt.Errorf("authority %q does not start with login.", p.Authority)
	}
	return "https://" + sub + "." + rest, nil
}

// Dial says how a session reaches the server. The zero value means: dial
// MHSM_CONNECT when set (else resolve names), trust MHSM_CA_FILE when set
// (else the profile's caFile) besides the system roots.
type Dial struct {
	// Connect is the host:port dialled for every host name (TLS still
	// verifies the name); "" means MHSM_CONNECT.
	Connect string
	// CAFile is a PEM CA bundle to trust; "" means MHSM_CA_FILE, else the
	// profile's caFile.
	CAFile string
}

// HTTPClient returns a client that trusts the system roots plus the CA
// file (MHSM_CA_FILE, else caFile) and, when MHSM_CONNECT is set, dials
// that address for every host (TLS still verifies the host name).
func HTTPClient(caFile string) (*http.Client, error) {
	return Dial{}.httpClient(caFile)
}

// httpClient builds the one HTTP client every session uses; profileCA is
// the CA file to trust when neither d.CAFile nor MHSM_CA_FILE is set.
func (d Dial) httpClient(profileCA string) (*http.Client, error) {
	caFile := firstNonEmpty(d.CAFile, os.Getenv("MHSM_CA_FILE"), profileCA)
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tcfg.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{TLSClientConfig: tcfg, Proxy: http.ProxyFromEnvironment, DialContext: dialer.DialContext,
		ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 8}
	if addr := firstNonEmpty(d.Connect, os.Getenv("MHSM_CONNECT")); addr != "" {
		tr.Proxy = nil
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		}
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}
