package hsm

import (
	"context"
	"strconv"
	"testing"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/wire"
)

func TestRSA15DecryptionIsOffByDefault(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{})
	if _, err := s.CreateKey(ctx, h, "r", &wire.KeyCreateParameters{Kty: "RSA-HSM"}); err != nil {
		t.Fatal(err)
	}
	p := &wire.KeyOperationsParameters{Alg: "RSA1_5", Value: []byte("secret")}
	ct, err := s.Encrypt(ctx, h, "r", "", p)
	if err != nil {
		t.Fatalf("RSA1_5 encryption must stay allowed: %v", err)
	}
	in := &wire.KeyOperationsParameters{Alg: "RSA1_5", Value: ct.Value}
	if _, err := s.Decrypt(ctx, h, "r", "", in); err == nil {
		t.Fatal("RSA1_5 decryption allowed by default")
	}
	if _, err := s.UnwrapKey(ctx, h, "r", "", in); err == nil {
		t.Fatal("RSA1_5 unwrap allowed by default")
	}
	if _, err := s.UpdateSetting(ctx, h, "allowrsa1_5decryption", "true"); err != nil {
		t.Fatal(err)
	}
	pt, err := s.Decrypt(ctx, h, "r", "", in)
	if err != nil || string(pt.Value) != "secret" {
		t.Fatalf("after enabling: %v %q", err, pt)
	}
}

func TestSeparationOfDutiesGuard(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{})
	p := "11111111-1111-1111-1111-111111111111"
	if _, err := s.Assign(ctx, h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: rbac.RolePolicyAdmin, PrincipalID: p}); err != nil {
		t.Fatal(err)
	}
	// Guard off (Azure's behaviour): the same principal may also use keys.
	a, err := s.Assign(ctx, h, rbac.RoleAssignment{Scope: "/keys/k", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: p})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteAssignment(ctx, h, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateSetting(ctx, h, SettingSoD, "true"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Assign(ctx, h, rbac.RoleAssignment{Scope: "/keys/k", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: p})
	if e, ok := AsError(err); !ok || e.Kind != KindBadRequest {
		t.Fatalf("guard on: err = %v, want a refusal naming the rule", err)
	}
	other := "22222222-2222-2222-2222-222222222222"
	if _, err := s.Assign(ctx, h, rbac.RoleAssignment{Scope: "/keys/k", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: other}); err != nil {
		t.Fatalf("guard refused an assignment that breaks no rule: %v", err)
	}
}

func TestKeyCountLimit(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{})
	for i := 0; i < MaxKeys; i++ {
		if _, err := s.CreateKey(ctx, h, "k"+strconv.Itoa(i), &wire.KeyCreateParameters{Kty: "oct-HSM"}); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if _, err := s.CreateKey(ctx, h, "one-too-many", &wire.KeyCreateParameters{Kty: "oct-HSM"}); err == nil {
		t.Fatal("created a key past the limit")
	}
	if _, err := s.CreateKey(ctx, h, "k1", &wire.KeyCreateParameters{Kty: "oct-HSM"}); err != nil {
		t.Fatalf("a new version of an existing key must not count: %v", err)
	}
	if _, err := s.DeleteKey(ctx, h, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, h, "one-too-many", &wire.KeyCreateParameters{Kty: "oct-HSM"}); err == nil {
		t.Fatal("a soft-deleted key must still count")
	}
	if err := s.PurgeKey(ctx, h, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, h, "one-too-many", &wire.KeyCreateParameters{Kty: "oct-HSM"}); err != nil {
		t.Fatalf("after a purge: %v", err)
	}
}
