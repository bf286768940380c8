// Package mhsmtest starts a real mhsm server — the Managed HSM API with
// its access control and audit — inside a Go test, in dev mode with an
// in-memory store, and hands back what the Azure SDK needs to use it:
//
//	srv := mhsmtest.Start(t)
//	client, err := azkeys.NewClient(srv.HSMURL, srv.Credential,
//		&azkeys.ClientOptions{ClientOptions: srv.ClientOptions})
//
// The server also offers dev mode's test-double controls: a clock that
// moves forward (AdvanceClock: rotation policies fire, keys expire,
// deleted keys reach their purge date, tokens expire), fault injection
// (AddFaults) and a state export (Export). See docs/testing.md.
package mhsmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/httpapi"
	"github.com/mhsm/mhsm/internal/testserver"
)

// FaultRule is one fault injection rule (see docs/testing.md).
type FaultRule = httpapi.FaultRule

// ClockState is the server's business time and its offset.
type ClockState = httpapi.ClockState

// Options adjust Start.
type Options struct {
	// Seed names a state file written by Export or mhsm dev export.
	Seed string
}

// Server is a running dev-mode mhsm. It stops when the test ends.
type Server struct {
	// HSMURL is the data-plane URL of the HSM "dev" (trailing slash).
	HSMURL string
	// ClientOptions route every request to the server and trust its CA;
	// the authority host is the server's login endpoint.
	ClientOptions azcore.ClientOptions
	// Credential is the dev service principal, Administrator, Crypto
	// Officer and Crypto User of the HSM "dev". It gets a fresh token
	// whenever the SDK asks for one, so after AdvanceClock (which expires
	// every issued token) the SDK's retry on 401 succeeds.
	Credential azcore.TokenCredential
	// TenantID, ClientID and ClientSecret are the dev service principal.
	TenantID, ClientID, ClientSecret string
	// CAFile is the dev CA certificate (PEM).
	CAFile string

	srv *testserver.Server
}

// Start starts a server for the test's duration.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith starts a server with o for the test's duration.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	ts := testserver.Start(t, func(c *config.Server) {
		c.Ephemeral = true
		c.Seed = o.Seed
	})
	s := &Server{HSMURL: ts.Dev.HSMURL, TenantID: ts.Dev.TenantID, ClientID: ts.Dev.ClientID, ClientSecret: ts.Dev.ClientSecret,
		CAFile: ts.Dev.CAFile, srv: ts}
	s.ClientOptions = azcore.ClientOptions{
		Transport: ts.Client(),
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: ts.Dev.AuthorityHost},
	}
	s.Credential = &freshCredential{s: s}
	return s
}

// freshCredential asks the server for a new token on every GetToken (the
// SDK's bearer policy caches it, and asks again on a 401).
type freshCredential struct{ s *Server }

// GetToken implements azcore.TokenCredential.
func (c *freshCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	cred, err := azidentity.NewClientSecretCredential(c.s.TenantID, c.s.ClientID, c.s.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: c.s.ClientOptions, DisableInstanceDiscovery: true})
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return cred.GetToken(ctx, o)
}

// HTTPClient is an HTTP client that reaches every host name of the server
// (login, management, <hsm>.managedhsm) and trusts its CA.
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// Clock returns the server's business time.
func (s *Server) Clock(t testing.TB) ClockState {
	t.Helper()
	var out ClockState
	s.dev(t, "GET", "clock", nil, &out)
	return out
}

// AdvanceClock moves the server's clock forward by the ISO 8601 duration
// iso ("P30D", "PT12H") and runs the work that became due (rotation by
// policy, purges) before it returns. Issued tokens expire with it.
func (s *Server) AdvanceClock(t testing.TB, iso string) ClockState {
	t.Helper()
	var out ClockState
	s.dev(t, "POST", "clock", httpapi.ClockAdvance{Advance: iso}, &out)
	return out
}

// AddFaults stores fault injection rules and returns every stored rule.
func (s *Server) AddFaults(t testing.TB, rules ...FaultRule) []FaultRule {
	t.Helper()
	var out httpapi.FaultRules
	s.dev(t, "POST", "faults", httpapi.FaultRules{Rules: rules}, &out)
	return out.Rules
}

// Faults returns the stored fault rules (with their counts so far).
func (s *Server) Faults(t testing.TB) []FaultRule {
	t.Helper()
	var out httpapi.FaultRules
	s.dev(t, "GET", "faults", nil, &out)
	return out.Rules
}

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults(t testing.TB) {
	t.Helper()
	s.dev(t, "DELETE", "faults", nil, nil)
}

// Export returns the server's state as mhsm dev export writes it; with
// includeSecrets it holds key material and the dev principal's secret.
func (s *Server) Export(t testing.TB, includeSecrets bool) []byte {
	t.Helper()
	var out json.RawMessage
	s.dev(t, "POST", "export", httpapi.ExportRequest{IncludeSecrets: includeSecrets}, &out)
	return out
}

// dev calls /mhsm/dev/<what> as the dev principal.
func (s *Server) dev(t testing.TB, method, what string, in, out any) {
	t.Helper()
	tok, err := s.srv.DevToken()
	if err != nil {
		t.Fatalf("mhsmtest: token: %v", err)
	}
	st, body, err := s.srv.Call(tok, method, s.srv.HSMURL("dev")+"/mhsm/dev/"+what, in)
	if err == nil && st != http.StatusOK {
		err = fmt.Errorf("status %d: %s", st, body)
	}
	if err == nil && out != nil {
		err = json.Unmarshal(body, out)
	}
	if err != nil {
		t.Fatalf("mhsmtest: %s /mhsm/dev/%s: %v", method, what, err)
	}
}
