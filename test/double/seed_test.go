package double

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// populate gives s's HSM "dev" state of every exported kind: keys of each
// type (one with two versions and a rotation policy, one with tags and an
// expiry), a principal with a key-scoped role assignment, a custom role
// and a changed setting.
func populate(t *testing.T, s *testserver.Server) {
	t.Helper()
	ctx := context.Background()
	svc := s.App.HSMs()
	h, _ := svc.Get("dev")
	size2048, size256 := 2048, 256
	exp := time.Now().Add(48 * time.Hour).Unix()
	for _, k := range []struct {
		name string
		p    wire.KeyCreateParameters
	}{
		{"rsa", wire.KeyCreateParameters{Kty: "RSA-HSM", KeySize: &size2048}},
		{"ec", wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-384", Tags: map[string]string{"team": "payments"},
			Attributes: &wire.KeyAttributes{Expires: &exp}}},
		{"aes", wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: &size256}},
	} {
		if _, err := svc.CreateKey(ctx, h, k.name, &k.p); err != nil {
			t.Fatalf("create %s: %v", k.name, err)
		}
	}
	if _, err := svc.SetRotationPolicy(ctx, h, "rsa", &wire.KeyRotationPolicy{LifetimeActions: []wire.LifetimeAction{{
		Trigger: wire.LifetimeTrigger{TimeAfterCreate: "P90D"}, Action: wire.LifetimeType{Type: "Rotate"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RotateKey(ctx, h, "rsa"); err != nil {
		t.Fatal(err)
	}
	sp, err := s.App.Directory().CreateServicePrincipal(ctx, s.Dev.TenantID, "app1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.App.Directory().AddSecret(ctx, s.Dev.TenantID, sp.AppID, time.Hour); err != nil {
		t.Fatal(err)
	}
	role := rbac.RoleDefinition{ID: uuid.NewString(), RoleName: "Signer", Type: rbac.TypeCustom, AssignableScopes: []string{"/"},
		Permissions: []rbac.Permission{{DataActions: []string{string(rbac.KeysSign)}}}}
	if _, err := svc.PutRoleDefinition(ctx, h, role); err != nil {
		t.Fatal(err)
	}
	for _, ra := range []rbac.RoleAssignment{
		{ID: uuid.NewString(), Scope: "/keys/rsa", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: sp.ObjectID},
		{ID: uuid.NewString(), Scope: "/", RoleDefinitionID: role.ID, PrincipalID: sp.ObjectID},
	} {
		if _, err := svc.Assign(ctx, h, ra); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.UpdateSetting(ctx, h, "AllowRSA1_5Decryption", "true"); err != nil {
		t.Fatal(err)
	}
}

// export calls POST /mhsm/dev/export as the dev principal.
func export(t *testing.T, s *testserver.Server, secrets bool) []byte {
	t.Helper()
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	st, body, err := s.Call(tok, "POST", s.HSMURL("dev")+"/mhsm/dev/export", map[string]bool{"includeSecrets": secrets})
	if err != nil || st != http.StatusOK {
		t.Fatalf("export: %d %s %v", st, body, err)
	}
	return body
}

// seeded starts a fresh ephemeral server seeded with state.
func seeded(t *testing.T, state []byte) *testserver.Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, state, 0o600); err != nil {
		t.Fatal(err)
	}
	return testserver.Start(t, func(c *config.Server) { c.Ephemeral, c.Seed = true, path })
}

// TestSeedWithSecretsReproducesTheState: export with secrets → fresh
// server seeded with it → its export is byte-identical (same key material,
// versions, principals, roles, settings), and the seeded server signs
// with the same key and accepts the same dev secret.
func TestSeedWithSecretsReproducesTheState(t *testing.T) {
	s1 := testserver.Start(t, func(c *config.Server) { c.Ephemeral = true })
	populate(t, s1)
	dump1 := export(t, s1, true)
	for _, want := range []string{`"privateKey"`, `"passwordCredentials"`, `"clientSecret"`, `"Signer"`, `"AllowRSA1_5Decryption"`, `"team"`} {
		if !bytes.Contains(dump1, []byte(want)) {
			t.Fatalf("export with secrets lacks %s", want)
		}
	}
	s2 := seeded(t, dump1)
	if s2.Dev.ClientSecret != s1.Dev.ClientSecret || s2.Dev.ClientID != s1.Dev.ClientID || s2.Dev.TenantID != s1.Dev.TenantID {
		t.Fatal("the seeded server has another dev principal")
	}
	dump2 := export(t, s2, true)
	if !bytes.Equal(dump1, dump2) {
		t.Fatalf("export after seed differs from the seed:\n%s\n----\n%s", dump1, dump2)
	}
}

// TestSeedWithoutSecrets: an export without secrets holds no private key
// or secret hash; a server seeded with it has the same state except the
// key material, which is fresh (public keys differ) and usable.
func TestSeedWithoutSecrets(t *testing.T) {
	s1 := testserver.Start(t, func(c *config.Server) { c.Ephemeral = true })
	populate(t, s1)
	dump1 := export(t, s1, false)
	for _, bad := range []string{`"privateKey"`, `"passwordCredentials"`, `"passwordHash"`, `"clientSecret"`, s1.Dev.ClientSecret} {
		if bytes.Contains(dump1, []byte(bad)) {
			t.Fatalf("export without secrets holds %s", bad)
		}
	}
	s2 := seeded(t, dump1)
	if s2.Dev.ClientSecret == s1.Dev.ClientSecret || s2.Dev.ClientID != s1.Dev.ClientID {
		t.Fatal("the seeded dev principal should be the same principal with a new secret")
	}
	dump2 := export(t, s2, false)
	if bytes.Equal(dump1, dump2) {
		t.Fatal("key material was not recreated: the exports are identical, public keys included")
	}
	c1, pub1 := canonicalWithoutKeyMaterial(t, dump1)
	c2, pub2 := canonicalWithoutKeyMaterial(t, dump2)
	if !bytes.Equal(c1, c2) {
		t.Fatalf("canonical dumps differ:\n%s\n----\n%s", c1, c2)
	}
	if len(pub1) != 4 || len(pub2) != 4 { // rsa (2 versions), ec, aes (no public part) → 3 asymmetric versions + aes
		t.Fatalf("public parts: %d and %d versions", len(pub1), len(pub2))
	}
	for v, p := range pub1 {
		if p != "" && p == pub2[v] {
			t.Fatalf("version %s kept its public key: material was not recreated", v)
		}
	}
	// The fresh material works.
	tok, err := s2.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	st, body, err := s2.Call(tok, "POST", s2.HSMURL("dev")+"/keys/rsa/sign?api-version=7.6",
		map[string]string{"alg": "PS256", "value": "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"})
	if err != nil || st != http.StatusOK {
		t.Fatalf("sign with the seeded key: %d %s %v", st, body, err)
	}
}

// canonicalWithoutKeyMaterial re-encodes a dump with each version's public
// key parameters (n, e, x, y) removed, the documented comparison for
// exports without secrets; it also returns those parameters by version.
func canonicalWithoutKeyMaterial(t *testing.T, dump []byte) ([]byte, map[string]string) {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(dump))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	pubs := map[string]string{}
	for _, h := range m["hsms"].([]any) {
		for _, k := range h.(map[string]any)["keys"].([]any) {
			for _, v := range k.(map[string]any)["versions"].([]any) {
				vm := v.(map[string]any)
				pub := vm["public"].(map[string]any)
				s := ""
				for _, f := range []string{"n", "e", "x", "y"} {
					if p, ok := pub[f].(string); ok {
						s += f + "=" + p + ";"
					}
					delete(pub, f)
				}
				pubs[vm["version"].(string)] = s
			}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, pubs
}
