// Package identity tests mhsm's directory, token issuer, Graph API and
// managed identity endpoint through the real HTTPS server (started
// in-process in dev mode) with the real clients: msgraph-sdk-go and
// azidentity's ClientSecretCredential, ClientCertificateCredential and
// ManagedIdentityCredential.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/token/tokentest"
)

func start(t *testing.T, mod func(*config.Server)) *testserver.Server {
	t.Helper()
	return testserver.Start(t, func(c *config.Server) {
		c.MSIAddr = "127.0.0.1:0"
		if mod != nil {
			mod(c)
		}
	})
}

// clientOptions are the only options real clients need: the transport
// (trusting the dev CA, dialing the listener) and the authority.
func clientOptions(s *testserver.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: &http.Client{Transport: s.Transport()},
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL("login") + "/"},
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

func secretCredential(t *testing.T, s *testserver.Server, clientID, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(s.Dev.TenantID, clientID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// graphClient is msgraph-sdk-go pointed at graph.<domain>.
func graphClient(t *testing.T, s *testserver.Server, cred azcore.TokenCredential) *msgraph.GraphServiceClient {
	t.Helper()
	u, _ := url.Parse(s.URL("graph"))
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{s.URL("graph") + "/.default"}, []string{u.Hostname()})
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil,
		&http.Client{Transport: s.Transport(), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(s.URL("graph") + "/v1.0")
	return msgraph.NewGraphServiceClient(adapter)
}

func devGraph(t *testing.T, s *testserver.Server) *msgraph.GraphServiceClient {
	return graphClient(t, s, secretCredential(t, s, s.Dev.ClientID, s.Dev.ClientSecret))
}

// tokenFor gets a token for resource ("managedhsm", "graph", …) from cred.
func tokenFor(t *testing.T, s *testserver.Server, cred azcore.TokenCredential, resource string) string {
	t.Helper()
	tk, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{s.URL(resource) + "/.default"}})
	if err != nil {
		t.Fatalf("GetToken(%s): %v", resource, err)
	}
	return tk.Token
}

// listKeys is GET /keys on the dev HSM with tok; it returns the status.
func listKeys(t *testing.T, s *testserver.Server, tok string) int {
	t.Helper()
	st, _, err := s.Call(tok, "GET", s.HSMURL("dev")+"/keys?api-version=7.4", nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// assign gives principal oid a role on the dev HSM at "/".
func assign(t *testing.T, s *testserver.Server, role, oid string) string {
	t.Helper()
	h, ok := s.App.HSMs().Get("dev")
	if !ok {
		t.Fatal("no dev HSM")
	}
	a, err := s.App.HSMs().Assign(context.Background(), h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: role, PrincipalID: oid})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// form posts a token request and decodes the JSON answer.
func form(t *testing.T, s *testserver.Server, path string, v url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := s.Client().PostForm(s.URL("login")+path, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func tokenPath(s *testserver.Server) string { return "/" + s.Dev.TenantID + "/oauth2/v2.0/token" }

// passwordToken signs a user in through the mhsm CLI's public client.
func passwordToken(t *testing.T, s *testserver.Server, upn, password, resource string) (int, map[string]any) {
	return form(t, s, tokenPath(s), url.Values{"grant_type": {"password"}, "client_id": {"6d68736d-636c-4900-8000-000000000001"},
		"username": {upn}, "password": {password}, "scope": {s.URL(resource) + "/.default openid offline_access"}})
}

// graphRaw calls the Graph host with a bearer token.
func graphRaw(t *testing.T, s *testserver.Server, tok, method, path string, body any) (int, map[string]any) {
	t.Helper()
	st, b, err := s.Call(tok, method, s.URL("graph")+path, body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return st, m
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func upn(s *testserver.Server, name string) string { return name + "@" + s.Config().Domain }

// result carries a (value, error) pair so that m(call()).get(t) fails
// the test on error.
type result[T any] struct {
	v   T
	err error
}

func m[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) get(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%v", describe(r.err))
	}
	return r.v
}

// describe renders Graph SDK errors (ODataError) with status and code.
func describe(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		if m := oe.GetErrorEscaped(); m != nil {
			return fmt.Sprintf("graph %d %s: %s", oe.ResponseStatusCode, deref(m.GetCode()), deref(m.GetMessage()))
		}
		return fmt.Sprintf("graph %d", oe.ResponseStatusCode)
	}
	return err.Error()
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

// claimsOf decodes a JWT's claims without verifying them.
func claimsOf(tok string) map[string]any {
	_, c := tokentest.Parts(tok)
	return c
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// activity matches the per-request id in error bodies.
var activity = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
