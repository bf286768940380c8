// Package security holds the regression tests of security findings
// (issue #14 items 3, 4 and 6; docs/security.md), each driven through the
// real HTTPS server started in-process in dev mode.
package security

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/testserver"
)

// clientFrom is an HTTP client whose connections leave from local address
// ip (any of 127.0.0.0/8 on Linux), so the server sees a distinct TCP peer
// per simulated source.
func clientFrom(t *testing.T, s *testserver.Server, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.Pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, s.Addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// tokenForm posts form to the dev tenant's token endpoint and returns the
// status and the decoded body.
func tokenForm(t *testing.T, s *testserver.Server, c *http.Client, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := c.PostForm(s.URL("login")+"/"+s.Dev.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, m
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// locked reports whether a token endpoint answer is the lockout refusal.
func locked(st int, m map[string]any) bool {
	return st == 400 && strings.Contains(str(m, "error_description"), "AADSTS50053")
}
