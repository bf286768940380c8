package bench

import (
	"bufio"
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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mhsm/mhsm/internal/client"
)

// Target is the server under load: the HSM's base URL, where to dial, the
// TLS settings that trust the server, and a source of bearer tokens.
type Target struct {
	// HSMURL is the data-plane base URL, e.g.
	// https://dev.managedhsm.mhsm.localhost:8443 (no trailing slash).
	HSMURL *url.URL
	// Dial is the host:port connections go to (the HSM host's port on
	// loopback when the name ends in .localhost, otherwise the name itself).
	Dial string
	// RootCAs trusts the server certificate; nil means the system roots.
	RootCAs *x509.CertPool
	// Token returns a valid data-plane bearer token.
	Token func(ctx context.Context) (string, error)
	// Creds are the client credentials behind Token, if any (the azkeys
	// client mode gets its own tokens with them).
	Creds Credentials
}

// Dev is a dev-mode server's dev.json (client.Dev, its one declaration).
type Dev = client.Dev

// ReadDev reads a dev.json file (client.ReadDev).
func ReadDev(path string) (Dev, error) { return client.ReadDev(path) }

// Credentials describe how the bench gets its token when none is given:
// the client-credentials grant at Authority/Tenant.
type Credentials struct {
	Authority    string // e.g. https://login.mhsm.localhost:8443
	Tenant       string
	ClientID     string
	ClientSecret string
}

// NewTarget builds a Target for hsmURL. caFile may be empty (system roots);
// dial may be empty (see Target.Dial). Exactly one of token and creds is
// used: a non-empty token is sent as is.
func NewTarget(hsmURL, caFile, dial, token string, creds Credentials) (*Target, error) {
	u, err := url.Parse(strings.TrimRight(hsmURL, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("hsm url %q must be https://<hsm host>[:port]", hsmURL)
	}
	t := &Target{HSMURL: u, Dial: dial}
	if t.Dial == "" {
		port := u.Port()
		if port == "" {
			port = "443"
		}
		host := u.Hostname()
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			host = "127.0.0.1" // RFC 6761: *.localhost is loopback
		}
		t.Dial = net.JoinHostPort(host, port)
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
	}
	if token != "" {
		t.Token = func(context.Context) (string, error) { return token, nil }
		return t, nil
	}
	if creds.ClientID == "" || creds.ClientSecret == "" || creds.Tenant == "" {
		return nil, errors.New("give a token, or client id, secret and tenant (or a dev.json)")
	}
	if creds.Authority == "" {
		creds.Authority = defaultAuthority(u)
	}
	t.Token, t.Creds = t.clientCredentials(creds), creds
	return t, nil
}

// TargetFromDev builds a Target from a dev-mode server's dev.json contents.
func TargetFromDev(d client.Dev, dial string) (*Target, error) {
	return NewTarget(d.HSMURL, d.CAFile, dial, "", Credentials{
		Authority: strings.TrimRight(d.AuthorityHost, "/"), Tenant: d.TenantID, ClientID: d.ClientID, ClientSecret: d.ClientSecret})
}

// defaultAuthority maps https://<hsm>.managedhsm.<domain>:port to
// https://login.<domain>:port.
func defaultAuthority(u *url.URL) string {
	host := u.Host
	if _, rest, ok := strings.Cut(host, ".managedhsm."); ok {
		host = "login." + rest
	}
	return "https://" + host
}

// resource is the data-plane resource URI: https://managedhsm.<domain>:port.
func resource(u *url.URL) string {
	host := u.Host
	if i := strings.Index(host, ".managedhsm."); i >= 0 {
		host = host[i+1:]
	}
	return "https://" + host
}

func (t *Target) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: t.RootCAs, ServerName: t.HSMURL.Hostname(), MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
}

// httpClient is a net/http client for the one-off token request; load uses
// conn.
func (t *Target) httpClient() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tc := t.tlsConfig()
	tc.ServerName = ""
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tc,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, t.Dial)
		},
	}}
}

// clientCredentials returns a token source that asks the authority for a
// token and reuses it until it is half way to expiry.
func (t *Target) clientCredentials(c Credentials) func(context.Context) (string, error) {
	var mu sync.Mutex
	var tok string
	var renew time.Time
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if tok != "" && time.Now().Before(renew) {
			return tok, nil
		}
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret},
			"scope": {resource(t.HSMURL) + "/.default"}}
		req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(c.Authority, "/")+"/"+c.Tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := t.httpClient().Do(req)
		if err != nil {
			return "", fmt.Errorf("token: %w", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("token: %s: %s", resp.Status, b)
		}
		var tr struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" {
			return "", fmt.Errorf("token: unexpected response")
		}
		tok, renew = tr.AccessToken, time.Now().Add(time.Duration(tr.ExpiresIn)*time.Second/2)
		return tok, nil
	}
}

// request renders a complete HTTP/1.1 request once, so that the load loop
// only writes bytes.
func (t *Target) request(method, path, token string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(method + " " + path)
	if strings.Contains(path, "?") {
		b.WriteString("&")
	} else {
		b.WriteString("?")
	}
	b.WriteString("api-version=7.6 HTTP/1.1\r\nHost: " + t.HSMURL.Host + "\r\nAuthorization: Bearer " + token +
		"\r\nUser-Agent: mhsm-bench\r\nAccept: application/json\r\n")
	if body != nil || method == "POST" || method == "PUT" || method == "PATCH" {
		b.WriteString("Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// conn is one keep-alive HTTP/1.1 connection over TLS. It writes
// pre-rendered requests and parses just enough of the response (status,
// Content-Length or chunked, Connection: close) to stay in sync: a minimal
// client costs the shared cores less than net/http's transport.
type conn struct {
	t    *Target
	tc   *tls.Conn
	br   *bufio.Reader
	body []byte // the last response body; reused
}

func (t *Target) dial(ctx context.Context, tlsConf *tls.Config) (*conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.Dial)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return &conn{t: t, tc: tc, br: bufio.NewReaderSize(tc, 16<<10)}, nil
}

func (c *conn) Close() error { return c.tc.Close() }

// errClosed is returned after a response that closed the connection.
var errClosed = errors.New("server closed the connection")

// do writes req and reads the response; body is valid until the next do.
func (c *conn) do(req []byte) (status int, body []byte, err error) {
	if _, err := c.tc.Write(req); err != nil {
		return 0, nil, err
	}
	line, err := c.line()
	if err != nil {
		return 0, nil, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		h, err := c.line()
		if err != nil {
			return 0, nil, err
		}
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "content-length"):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return 0, nil, fmt.Errorf("bad content-length %q", v)
			}
		case asciiEqualFold(k, "transfer-encoding"):
			chunked = asciiEqualFold(v, "chunked")
		case asciiEqualFold(k, "connection"):
			closing = asciiEqualFold(v, "close")
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		err = c.readChunked()
	case length >= 0:
		err = c.readN(length)
	case status == 204 || status == 304:
	default: // body until close
		var b bytes.Buffer
		_, err = b.ReadFrom(c.br)
		c.body = append(c.body, b.Bytes()...)
		closing = true
	}
	if err != nil {
		return 0, nil, err
	}
	if closing {
		return status, c.body, errClosed
	}
	return status, c.body, nil
}

func (c *conn) line() ([]byte, error) {
	l, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(l, "\r\n"), nil
}

func (c *conn) readN(n int) error {
	if cap(c.body) < n {
		c.body = make([]byte, 0, n)
	}
	c.body = c.body[:n]
	_, err := io.ReadFull(c.br, c.body)
	return err
}

func (c *conn) readChunked() error {
	for {
		l, err := c.line()
		if err != nil {
			return err
		}
		l, _, _ = bytes.Cut(l, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", l)
		}
		if n == 0 {
			for { // trailers
				t, err := c.line()
				if err != nil {
					return err
				}
				if len(t) == 0 {
					return nil
				}
			}
		}
		start := len(c.body)
		c.body = append(c.body, make([]byte, n)...)
		if _, err := io.ReadFull(c.br, c.body[start:]); err != nil {
			return err
		}
		if _, err := c.line(); err != nil {
			return err
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i]|0x20, s[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}
