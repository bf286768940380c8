package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// Mode is the client the load is sent with. Users do not run the
// minimal client; the standard client and the SDK are what they see.
type Mode string

const (
	// ModeMinimal is the hand-written HTTP/1.1 client of client.go: each
	// request is rendered once and only written and parsed after that.
	ModeMinimal Mode = "minimal"
	// ModeStd is a net/http Client keeping one keep-alive connection per
	// worker, marshalling each request body and decoding each response
	// as JSON, as a program using the REST API directly does.
	ModeStd Mode = "std"
	// ModeAzkeys is the unmodified azkeys SDK with an azidentity client
	// secret credential: the challenge, retry, logging and telemetry
	// policies all run, over a transport with azcore's default settings
	// (HTTP/2 when the server offers it).
	ModeAzkeys Mode = "azkeys"
)

// Modes lists every client mode, in report order.
var Modes = []Mode{ModeMinimal, ModeStd, ModeAzkeys}

// ParseModes parses a comma-separated list of modes ("all": every one).
func ParseModes(s string) ([]Mode, error) {
	if s == "" || s == "all" {
		return Modes, nil
	}
	var out []Mode
	for _, name := range strings.Split(s, ",") {
		m := Mode(strings.TrimSpace(name))
		switch m {
		case ModeMinimal, ModeStd, ModeAzkeys:
			out = append(out, m)
		default:
			return nil, fmt.Errorf("unknown client mode %q (minimal, std, azkeys)", name)
		}
	}
	return out, nil
}

// sender sends one operation's request again and again; each load worker
// owns one.
type sender interface {
	// send makes one request; status is the HTTP status (0 on a transport
	// error), detail a short description of a failure.
	send(ctx context.Context) (status int, detail string, err error)
	close()
}

// senders builds n senders of p against t in mode m.
func senders(ctx context.Context, t *Target, m Mode, p prepared, n int) ([]sender, error) {
	switch m {
	case ModeMinimal, "":
		tok, err := t.Token(ctx)
		if err != nil {
			return nil, err
		}
		conns, err := dialAll(ctx, t, n)
		if err != nil {
			return nil, err
		}
		req := t.request(p.method, p.path, tok, p.body)
		out := make([]sender, n)
		for i, c := range conns {
			out[i] = &minimalSender{t: t, c: c, req: req}
		}
		return out, nil
	case ModeStd:
		tok, err := t.Token(ctx)
		if err != nil {
			return nil, err
		}
		hc := t.stdClient(n)
		out := make([]sender, n)
		for i := range out {
			out[i] = &stdSender{hc: hc, p: p, url: t.HSMURL.String() + p.path + "?api-version=7.6",
				header: http.Header{"Authorization": {"Bearer " + tok}}}
		}
		return out, nil
	case ModeAzkeys:
		call, err := t.azkeysCall(p)
		if err != nil {
			return nil, err
		}
		out := make([]sender, n)
		for i := range out {
			out[i] = call
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown client mode %q", m)
}

// minimalSender is one connection of the minimal client; it redials after
// a transport error.
type minimalSender struct {
	t   *Target
	c   *conn
	req []byte
}

func (s *minimalSender) send(ctx context.Context) (int, string, error) {
	status, body, err := s.c.do(s.req)
	if err != nil {
		s.c.Close()
		nc, derr := s.t.dial(ctx, s.t.tlsConfig())
		if derr != nil {
			return status, "", derr
		}
		s.c = nc
		if err == errClosed && status/100 == 2 {
			err = nil
		}
	}
	return status, truncate(body), err
}

func (s *minimalSender) close() { s.c.Close() }

// stdClient is a net/http client with a keep-alive pool of n connections
// (net/http keeps only 2 idle connections per host by default, which would
// make most of n workers reconnect on every request).
func (t *Target) stdClient(n int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tc := t.tlsConfig()
	tc.NextProtos = nil
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig:     tc,
		MaxIdleConnsPerHost: n,
		IdleConnTimeout:     90 * time.Second,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, t.Dial)
		},
	}}
}

// stdSender sends p with net/http, marshalling the body from a map and
// decoding the JSON answer each time, as a program of its own would.
type stdSender struct {
	hc     *http.Client
	p      prepared
	url    string
	header http.Header // authentication
}

func (s *stdSender) send(ctx context.Context) (int, string, error) {
	var body io.Reader
	if s.p.body != nil {
		var fields map[string]any
		if err := json.Unmarshal(s.p.body, &fields); err != nil {
			return 0, "", err
		}
		b, err := json.Marshal(fields)
		if err != nil {
			return 0, "", err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, s.p.method, s.url, body)
	if err != nil {
		return 0, "", err
	}
	for k, v := range s.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil && resp.StatusCode/100 == 2 {
		return resp.StatusCode, "", fmt.Errorf("response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := json.Marshal(out)
		return resp.StatusCode, truncate(b), nil
	}
	return resp.StatusCode, "", nil
}

func (s *stdSender) close() { s.hc.CloseIdleConnections() }

// azkeysSender is one SDK call; the SDK client (and its connection pool)
// is shared by every worker, as an application shares one client.
type azkeysSender struct {
	do func(ctx context.Context) error
}

func (s azkeysSender) send(ctx context.Context) (int, string, error) {
	if err := s.do(ctx); err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			return re.StatusCode, re.ErrorCode, nil
		}
		return 0, "", err
	}
	return 200, "", nil
}

func (azkeysSender) close() {}

// azcoreTransport is azcore's default transport (sdk/azcore/runtime
// transport_default_http_client.go: HTTP/2 attempted, 100 idle
// connections, 10 per host, 90 s idle timeout), trusting the target's CA
// and dialling the target's address — the only two things a user changes
// to reach a private server.
func (t *Target) azcoreTransport() *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tc := t.tlsConfig()
	tc.ServerName, tc.NextProtos, tc.ClientSessionCache = "", nil, nil
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, t.Dial)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tc,
	}}
}

// azkeysCall maps p to the azkeys method that sends the same request.
func (t *Target) azkeysCall(p prepared) (sender, error) {
	if t.Creds.ClientID == "" {
		return nil, fmt.Errorf("the azkeys mode needs client credentials (a dev.json or --client-id/--client-secret/--tenant), not a bare token")
	}
	co := azcore.ClientOptions{Transport: t.azcoreTransport(),
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: t.Creds.Authority + "/"}}
	cred, err := azidentity.NewClientSecretCredential(t.Creds.Tenant, t.Creds.ClientID, t.Creds.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	if err != nil {
		return nil, err
	}
	kc, err := azkeys.NewClient(t.HSMURL.String(), cred, &azkeys.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, err
	}
	segs := strings.Split(strings.Trim(p.path, "/"), "/")
	if len(segs) < 3 || segs[0] != "keys" {
		return nil, fmt.Errorf("%s %s has no azkeys method", p.method, p.path)
	}
	name, version := segs[1], segs[2]
	if len(segs) == 3 && p.method == "GET" {
		return azkeysSender{func(ctx context.Context) error { _, err := kc.GetKey(ctx, name, version, nil); return err }}, nil
	}
	if len(segs) != 4 || p.method != "POST" {
		return nil, fmt.Errorf("%s %s has no azkeys method", p.method, p.path)
	}
	switch segs[3] {
	case "sign":
		var sp azkeys.SignParameters
		if err := json.Unmarshal(p.body, &sp); err != nil {
			return nil, err
		}
		return azkeysSender{func(ctx context.Context) error { _, err := kc.Sign(ctx, name, version, sp, nil); return err }}, nil
	case "verify":
		var vp azkeys.VerifyParameters
		if err := json.Unmarshal(p.body, &vp); err != nil {
			return nil, err
		}
		return azkeysSender{func(ctx context.Context) error { _, err := kc.Verify(ctx, name, version, vp, nil); return err }}, nil
	}
	var kp azkeys.KeyOperationParameters
	if err := json.Unmarshal(p.body, &kp); err != nil {
		return nil, err
	}
	switch segs[3] {
	case "encrypt":
		return azkeysSender{func(ctx context.Context) error { _, err := kc.Encrypt(ctx, name, version, kp, nil); return err }}, nil
	case "decrypt":
		return azkeysSender{func(ctx context.Context) error { _, err := kc.Decrypt(ctx, name, version, kp, nil); return err }}, nil
	case "wrapkey":
		return azkeysSender{func(ctx context.Context) error { _, err := kc.WrapKey(ctx, name, version, kp, nil); return err }}, nil
	}
	return nil, fmt.Errorf("%s %s has no azkeys method", p.method, p.path)
}
