package main

import (
	"bytes"
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
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/client"
)

// dataConn is the data-plane connection of the keyvault commands. With no
// explicit connection flags it uses the signed-in profile (`mhsm login`,
// internal/client): --hsm-name names the HSM, the profile gives the domain,
// CA and token. Otherwise --dev-json, or --id with --token or client
// credentials (the flags of `mhsm bench`), say where and who.
type dataConn struct {
	devJSON, hsmName, url, caFile, connect string
	token, tenant, clientID, secret        string
	authority                              string

	base string
	hc   *http.Client
}

func (c *dataConn) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.hsmName, "hsm-name", "", "name of the HSM (its URL is derived from --dev-json's)")
	f.StringVar(&c.url, "id", "", "HSM URL, e.g. https://contoso.managedhsm.mhsm.localhost:8443")
	f.StringVar(&c.devJSON, "dev-json", os.Getenv("MHSM_DEV_JSON"), "dev.json of a dev-mode server: URL, CA and client credentials (env MHSM_DEV_JSON)")
	f.StringVar(&c.caFile, "ca-file", "", "PEM CA certificate the server's certificate chains to")
	f.StringVar(&c.connect, "connect", "", "dial this host:port for every name (instead of DNS)")
	f.StringVar(&c.token, "token", os.Getenv("MHSM_TOKEN"), "data-plane bearer token (env MHSM_TOKEN; default: client credentials)")
	f.StringVar(&c.tenant, "tenant", "", "tenant id for client credentials")
	f.StringVar(&c.clientID, "client-id", "", "client id for client credentials")
	f.StringVar(&c.secret, "client-secret", os.Getenv("MHSM_CLIENT_SECRET"), "client secret (env MHSM_CLIENT_SECRET)")
	f.StringVar(&c.authority, "authority", "", "token authority, e.g. https://login.mhsm.localhost:8443 (default: derived from the HSM URL)")
}

// open resolves the HSM URL and credentials and gets a token.
func (c *dataConn) open(ctx context.Context) error {
	if c.devJSON == "" && c.url == "" && c.token == "" && c.clientID == "" {
		return c.openProfile(ctx)
	}
	if c.devJSON != "" {
		d, err := client.ReadDev(c.devJSON)
		if err != nil {
			return err
		}
		setDefault(&c.caFile, d.CAFile)
		setDefault(&c.tenant, d.TenantID)
		setDefault(&c.clientID, d.ClientID)
		setDefault(&c.secret, d.ClientSecret)
		setDefault(&c.authority, strings.TrimRight(d.AuthorityHost, "/"))
		if c.url == "" && d.HSMURL != "" {
			u, err := url.Parse(d.HSMURL)
			if err != nil {
				return fmt.Errorf("%s: hsmUrl: %w", c.devJSON, err)
			}
			if c.hsmName != "" {
				_, rest, _ := strings.Cut(u.Host, ".")
				u.Host = strings.ToLower(c.hsmName) + "." + rest
			}
			c.url = u.String()
		}
	}
	if c.url == "" {
		return errors.New("give the HSM: --id URL, or --hsm-name with --dev-json")
	}
	u, err := url.Parse(strings.TrimRight(c.url, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--id %q is not an https URL", c.url)
	}
	c.base = u.Scheme + "://" + u.Host
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return err
		}
		tlsConf.RootCAs = x509.NewCertPool()
		if !tlsConf.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", c.caFile)
		}
	}
	tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}
	if c.connect != "" {
		d := &net.Dialer{Timeout: 10 * time.Second}
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, c.connect)
		}
	}
	c.hc = &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	if c.token != "" {
		return nil
	}
	return c.clientCredentials(ctx, u)
}

// openProfile connects as the signed-in profile.
func (c *dataConn) openProfile(ctx context.Context) error {
	sess, err := client.Open()
	if errors.Is(err, client.ErrNotLoggedIn) {
		return errors.New("not signed in: run `mhsm login`, or give --dev-json, or --id with --token or client credentials")
	}
	if err != nil {
		return err
	}
	if c.hsmName == "" {
		return errors.New("--hsm-name is required")
	}
	if c.base, err = sess.Profile.ResourceURL(strings.ToLower(c.hsmName) + ".managedhsm"); err != nil {
		return err
	}
	resource, err := sess.Profile.ResourceURL("managedhsm")
	if err != nil {
		return err
	}
	if c.token, err = sess.Token(ctx, resource); err != nil {
		return err
	}
	c.hc = sess.HTTP
	return nil
}

func setDefault(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// clientCredentials gets a data-plane token; the resource is the HSM
// host's parent domain (managedhsm.<domain>[:port]), as the challenge says.
func (c *dataConn) clientCredentials(ctx context.Context, u *url.URL) error {
	if c.tenant == "" || c.clientID == "" || c.secret == "" {
		return errors.New("no credentials: give --token, or --tenant, --client-id and --client-secret (or --dev-json)")
	}
	_, parent, _ := strings.Cut(u.Host, ".") // managedhsm.<domain>[:port]
	resource := "https://" + parent
	if c.authority == "" {
		_, domain, _ := strings.Cut(parent, ".")
		c.authority = "https://login." + domain
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.clientID}, "client_secret": {c.secret},
		"scope": {resource + "/.default"}}
	req, err := http.NewRequestWithContext(ctx, "POST", c.authority+"/"+c.tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	_ = json.Unmarshal(b, &tr)
	if resp.StatusCode != 200 || tr.AccessToken == "" {
		return fmt.Errorf("token request: %s %s", resp.Status, tr.Error)
	}
	c.token = tr.AccessToken
	return nil
}

// apiError is a data-plane error answer.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// do calls path (relative to the HSM) and decodes a 2xx JSON answer into out.
func (c *dataConn) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path+sep+"api-version=7.6", body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}
