package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/token"
)

// extIdP is an external OIDC issuer whose JWKS is a file.
type extIdP struct {
	iss  string
	key  *rsa.PrivateKey
	kid  string
	file string
}

func newIdP(t *testing.T, iss string) *extIdP {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	p := &extIdP{iss: iss, key: k, kid: "idp-key-1", file: filepath.Join(t.TempDir(), "jwks.json")}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: p.kid, Algorithm: "RS256", Use: "sig"}}}
	b, _ := json.Marshal(set)
	if err := os.WriteFile(p.file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *extIdP) sign(t *testing.T, claims map[string]any) string {
	sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", p.kid))
	now := time.Now()
	base := map[string]any{"iss": p.iss, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for k, v := range claims {
		base[k] = v
	}
	tok, err := jwt.Signed(sig).Claims(base).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestFederatedWorkloadIdentity: an application trusts an external
// issuer+subject; a workload holding that issuer's token exchanges it
// (client_assertion) for an mhsm token as the application.
func TestFederatedWorkloadIdentity(t *testing.T) {
	idp := newIdP(t, "https://token.ci.example")
	s := start(t, func(c *config.Server) {
		c.ExternalIssuers = []config.ExternalIssuer{{Issuer: idp.iss, JWKSFile: idp.file}}
	})
	gc := devGraph(t, s)
	appID, spID, _ := newApp(t, gc, "ci-deployer")
	graphTok, _ := s.Token(s.Dev.ClientID, s.Dev.ClientSecret, "graph")
	st, fc := graphRaw(t, s, graphTok, "POST", "/v1.0/applications(appId='"+appID+"')/federatedIdentityCredentials",
		map[string]any{"name": "main-branch", "issuer": idp.iss, "subject": "repo:contoso/app:ref:refs/heads/main", "audiences": []string{"api://AzureADTokenExchange"}})
	if st != 201 {
		t.Fatalf("federated credential: %d %v", st, fc)
	}
	exchange := func(assertion string) (int, map[string]any) {
		return form(t, s, tokenPath(s), url.Values{"grant_type": {"client_credentials"}, "client_id": {appID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
			"scope": {s.URL("managedhsm") + "/.default"}})
	}
	good := idp.sign(t, map[string]any{"sub": "repo:contoso/app:ref:refs/heads/main", "aud": "api://AzureADTokenExchange"})
	st, tr := exchange(good)
	if st != 200 || claimsOf(str(tr, "access_token"))["oid"] != spID {
		t.Fatalf("exchange: %d %v", st, tr)
	}
	assign(t, s, rbac.RoleCryptoUser, spID)
	if st := listKeys(t, s, str(tr, "access_token")); st != 200 {
		t.Fatalf("exchanged token on the data plane: %d", st)
	}
	for name, claims := range map[string]map[string]any{
		"other subject":  {"sub": "repo:contoso/app:ref:refs/heads/feature", "aud": "api://AzureADTokenExchange"},
		"other audience": {"sub": "repo:contoso/app:ref:refs/heads/main", "aud": "api://other"},
		"expired":        {"sub": "repo:contoso/app:ref:refs/heads/main", "aud": "api://AzureADTokenExchange", "exp": time.Now().Add(-time.Hour).Unix()},
	} {
		if st, _ := exchange(idp.sign(t, claims)); st != 401 {
			t.Errorf("%s: %d", name, st)
		}
	}
	// A token of an unconfigured issuer with the same subject.
	rogue := newIdP(t, "https://rogue.example")
	if st, _ := exchange(rogue.sign(t, map[string]any{"sub": "repo:contoso/app:ref:refs/heads/main", "aud": "api://AzureADTokenExchange"})); st != 401 {
		t.Errorf("unconfigured issuer: %d", st)
	}
	// The configured issuer's name with the rogue's key.
	forged := &extIdP{iss: idp.iss, key: rogue.key, kid: idp.kid}
	if st, _ := exchange(forged.sign(t, map[string]any{"sub": "repo:contoso/app:ref:refs/heads/main", "aud": "api://AzureADTokenExchange"})); st != 401 {
		t.Errorf("forged signature: %d", st)
	}
}

// TestExternalIssuerBearerTokens: a company IdP's users are assigned roles
// by immutable id — iss+sub (derived GUID) or a GUID oid claim — never by
// email or UPN; group claims from the token count.
func TestExternalIssuerBearerTokens(t *testing.T) {
	idp := newIdP(t, "https://idp.contoso.example")
	entra := newIdP(t, "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0")
	// The dev tenant's id is known once the server has started once: start,
	// stop, and restart on the same data dir with the issuers configured.
	s := start(t, nil)
	cfg := *s.Config()
	s.Stop()
	cfg.ExternalIssuers = []config.ExternalIssuer{
		{Issuer: idp.iss, JWKSFile: idp.file, Audience: "api://mhsm", TenantID: s.Dev.TenantID},
		{Issuer: entra.iss, JWKSFile: entra.file, Audience: "api://mhsm", TenantID: s.Dev.TenantID, ObjectIDClaim: "oid",
			ExternalTenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47"},
	}
	s, err := testserver.StartConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	graphTok, _ := s.Token(s.Dev.ClientID, s.Dev.ClientSecret, "graph")
	register := func(body map[string]any) string {
		st, m := graphRaw(t, s, graphTok, "POST", "/mhsm/externalPrincipals", body)
		if st != 201 {
			t.Fatalf("register %v: %d %v", body, st, m)
		}
		return str(m, "id")
	}
	if id := register(map[string]any{"issuer": idp.iss, "subject": "alice-123", "displayName": "Alice"}); id != token.ExternalObjectID(idp.iss, "alice-123") {
		t.Fatalf("external id %s", id)
	}
	if st, _ := graphRaw(t, s, graphTok, "POST", "/mhsm/externalPrincipals", map[string]any{"issuer": "https://unknown.example", "subject": "x"}); st != 400 {
		t.Fatalf("unconfigured issuer registered: %d", st)
	}
	alice := idp.sign(t, map[string]any{"sub": "alice-123", "aud": "api://mhsm", "email": "alice@contoso.example"})
	if st := listKeys(t, s, alice); st != 403 {
		t.Fatalf("external user without a role: %d", st)
	}
	assign(t, s, rbac.RoleCryptoUser, token.ExternalObjectID(idp.iss, "alice-123"))
	if st := listKeys(t, s, alice); st != 200 {
		t.Fatalf("external user with a role: %d", st)
	}
	// Same email, another subject: not alice (nOAuth class).
	mallory := idp.sign(t, map[string]any{"sub": "mallory-9", "aud": "api://mhsm", "email": "alice@contoso.example", "preferred_username": "alice"})
	if st := listKeys(t, s, mallory); st != 403 {
		t.Fatalf("mutable claims used for identity: %d", st)
	}
	// Group claim from the token.
	gid := register(map[string]any{"issuer": idp.iss, "objectId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "objectType": "Group"})
	assign(t, s, rbac.RoleCryptoUser, gid)
	if st := listKeys(t, s, idp.sign(t, map[string]any{"sub": "bob", "aud": "api://mhsm", "groups": []string{gid}})); st != 200 {
		t.Fatalf("group claim: %d", st)
	}
	if st := listKeys(t, s, idp.sign(t, map[string]any{"sub": "alice-123", "aud": "api://other"})); st != 401 {
		t.Fatalf("wrong audience: %d", st)
	}
	// Entra-style: tid+oid.
	oid := register(map[string]any{"issuer": entra.iss, "objectId": "0b8f2a40-9d5e-4e7c-8f00-1a2b3c4d5e6f"})
	assign(t, s, rbac.RoleCryptoUser, oid)
	good := entra.sign(t, map[string]any{"sub": "pairwise-x", "oid": oid, "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "aud": "api://mhsm"})
	if st := listKeys(t, s, good); st != 200 {
		t.Fatalf("entra tid+oid: %d", st)
	}
	wrongTenant := entra.sign(t, map[string]any{"sub": "pairwise-x", "oid": oid, "tid": "00000000-0000-0000-0000-000000000000", "aud": "api://mhsm"})
	if st := listKeys(t, s, wrongTenant); st != 401 {
		t.Fatalf("entra token of another tenant: %d", st)
	}
	// Issuer A's key claiming issuer B (Storm-0558 class).
	cross := (&extIdP{iss: entra.iss, key: idp.key, kid: idp.kid}).sign(t, map[string]any{"sub": "x", "oid": oid, "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "aud": "api://mhsm"})
	if st := listKeys(t, s, cross); st != 401 {
		t.Fatalf("cross-issuer key: %d", st)
	}
	// External principals cannot use Graph.
	if st, _ := graphRaw(t, s, idp.sign(t, map[string]any{"sub": "alice-123", "aud": s.URL("graph")}), "GET", "/v1.0/users", nil); st != 401 {
		t.Fatalf("external token on graph: %d", st)
	}
	_ = context.Background()
}
