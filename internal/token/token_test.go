package token_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/token"
	"github.com/mhsm/mhsm/internal/token/tokentest"
)

const aud = "https://managedhsm.mhsm.test:8443"

func issuerOf(tid string) string { return "https://login.mhsm.test:8443/" + tid + "/v2.0" }

type env struct {
	iss      *token.Issuer
	ver      *token.Verifier
	tidA     string
	tidB     string
	st       store.Backend
	dk       *barrier.DataKey
	inactive map[string]bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	dk, err := barrier.NewDataKeyFromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	e := &env{st: st, dk: dk, iss: token.NewIssuer(st, dk), tidA: uuid.NewString(), tidB: uuid.NewString(), inactive: map[string]bool{}}
	e.iss.SetMaxLifetime(time.Hour)
	e.ver = token.NewVerifier(e.iss, issuerOf)
	for _, tid := range []string{e.tidA, e.tidB} {
		if _, err := e.iss.JWKS(context.Background(), tid); err != nil { // creates the tenant's key
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) issue(t *testing.T, tid, oid string) string {
	t.Helper()
	c := token.Claims{TenantID: tid, ObjectID: oid, IDType: token.IDTypeApp, AppID: uuid.NewString()}
	c.Issuer, c.Subject, c.Audience = issuerOf(tid), oid, []string{aud}
	raw, _, err := e.iss.Issue(context.Background(), c, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestGoodTokenVerifies(t *testing.T) {
	e := newEnv(t)
	oid := uuid.NewString()
	c, err := e.ver.Verify(context.Background(), e.issue(t, e.tidA, oid), aud)
	if err != nil || c.ObjectID != oid || c.TenantID != e.tidA {
		t.Fatalf("Verify = %v, %v", c, err)
	}
}

// TestTamperingSuite runs every mutation of tokentest against the
// verifier: each must be ErrInvalid (and nothing else).
func TestTamperingSuite(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	good := e.issue(t, e.tidA, uuid.NewString())
	if _, err := e.ver.Verify(ctx, good, aud); err != nil {
		t.Fatal(err)
	}
	// The real key of tenant A signs raw inputs (a test-only hook).
	priv := token.ActiveKeyForTest(e.iss, e.tidA)
	in := tokentest.Input{
		Good: good,
		SignClaims: func(c map[string]any) string {
			s, err := e.iss.SignJWT(ctx, e.tidA, c)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		SignInput: func(in []byte) []byte {
			sum := sha256.Sum256(in)
			s, _ := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
			return s
		},
		OtherTenant: e.tidB, OtherIssuer: issuerOf(e.tidB), OtherAudience: "https://management.mhsm.test:8443",
		Public: &priv.PublicKey,
	}
	for _, c := range tokentest.Controls(in) {
		if _, err := e.ver.Verify(ctx, c.Token, aud); err != nil {
			t.Fatalf("control %s rejected: %v", c.Name, err)
		}
	}
	muts := tokentest.Build(in)
	if len(muts) < 50 {
		t.Fatalf("only %d mutations", len(muts))
	}
	t.Logf("%d mutations", len(muts))
	for _, m := range muts {
		t.Run(m.Name, func(t *testing.T) {
			c, d, err := e.ver.VerifyDigest(ctx, m.Token, aud)
			if !errors.Is(err, token.ErrInvalid) || err != token.ErrInvalid || c != nil {
				t.Fatalf("accepted or wrong error: %v, %v", c, err)
			}
			// An oversized token is refused before any work on it: not
			// even hashed (a zero Digest says so). This used to be a 10 ms
			// timing check, which a loaded CI machine could break.
			if len(m.Token) > token.MaxTokenBytes && d != (token.Digest{}) {
				t.Errorf("an oversized token (%d bytes) was hashed before being refused", len(m.Token))
			}
		})
	}
	// The good token still verifies, from the cache.
	if _, err := e.ver.Verify(ctx, good, aud); err != nil {
		t.Fatal(err)
	}
}

func TestWrongAudienceFromCache(t *testing.T) {
	e := newEnv(t)
	good := e.issue(t, e.tidA, uuid.NewString())
	if _, err := e.ver.Verify(context.Background(), good, aud); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ver.Verify(context.Background(), good, "https://graph.mhsm.test:8443"); err == nil {
		t.Fatal("cached token accepted for another audience")
	}
}

func TestRevocationOnCacheHit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var gen uint64 = 1
	e.ver.SetPrincipalCheck(func() uint64 { return gen }, func(_ context.Context, _, oid string) (bool, error) {
		return !e.inactive[oid], nil
	})
	oid := uuid.NewString()
	tok := e.issue(t, e.tidA, oid)
	if _, err := e.ver.Verify(ctx, tok, aud); err != nil {
		t.Fatal(err)
	}
	e.inactive[oid] = true
	// Same generation: the cache answers (the directory did not change).
	if _, err := e.ver.Verify(ctx, tok, aud); err != nil {
		t.Fatal("cache hit with unchanged generation must not re-check")
	}
	gen++
	if _, err := e.ver.Verify(ctx, tok, aud); err == nil {
		t.Fatal("token of a disabled principal accepted after the directory changed")
	}
	e.inactive[oid] = false
	gen++
	if _, err := e.ver.Verify(ctx, tok, aud); err != nil {
		t.Fatalf("re-enabled: %v", err)
	}
	other := uuid.NewString()
	e.inactive[other] = true
	if _, err := e.ver.Verify(ctx, e.issue(t, e.tidA, other), aud); err == nil {
		t.Fatal("fresh token of an inactive principal accepted")
	}
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	token.SetClock(e.iss, e.ver, func() time.Time { return now })
	old := e.issue(t, e.tidA, uuid.NewString())
	kid1, _ := e.iss.ActiveKeyID(ctx, e.tidA)
	if err := e.iss.Rotate(ctx, e.tidA); err != nil {
		t.Fatal(err)
	}
	kid2, _ := e.iss.ActiveKeyID(ctx, e.tidA)
	if kid1 == kid2 {
		t.Fatal("rotation kept the kid")
	}
	fresh := e.issue(t, e.tidA, uuid.NewString())
	set, _ := e.iss.JWKS(ctx, e.tidA)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want old and new", len(set.Keys))
	}
	// Both verify (the old one without the cache: a new verifier).
	v2 := token.NewVerifier(e.iss, issuerOf)
	token.SetClock(nil, v2, func() time.Time { return now })
	for _, tk := range []string{old, fresh} {
		if _, err := v2.Verify(ctx, tk, aud); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
	// Maintain does not drop the old key while its tokens may be valid…
	if err := e.iss.Maintain(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if set, _ := e.iss.JWKS(ctx, e.tidA); len(set.Keys) != 2 {
		t.Fatal("old key dropped early")
	}
	// …and does once they have expired.
	now = now.Add(time.Hour + 2*time.Minute)
	if err := e.iss.Maintain(ctx, 0); err != nil {
		t.Fatal(err)
	}
	set, _ = e.iss.JWKS(ctx, e.tidA)
	if len(set.Keys) != 1 || set.Keys[0].KeyID != kid2 {
		t.Fatalf("after retirement: %v", set.Keys)
	}
	now = now.Add(-time.Hour) // back to when the old token was still valid
	v3 := token.NewVerifier(e.iss, issuerOf)
	token.SetClock(nil, v3, func() time.Time { return now })
	if _, err := v3.Verify(ctx, old, aud); err == nil {
		t.Fatal("token of a removed key accepted")
	}
	// Automatic rotation by age.
	now = now.Add(48 * time.Hour)
	if err := e.iss.Maintain(ctx, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if kid3, _ := e.iss.ActiveKeyID(ctx, e.tidA); kid3 == kid2 {
		t.Fatal("Maintain did not rotate an old key")
	}
	// A new issuer over the same store sees the same keys (persistence).
	i2 := token.NewIssuer(e.st, e.dk)
	k, _ := i2.ActiveKeyID(ctx, e.tidA)
	if k3, _ := e.iss.ActiveKeyID(ctx, e.tidA); k != k3 {
		t.Fatal("reloaded issuer has another active key")
	}
}

func TestRefreshTokensAreSingleUse(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, err := e.iss.NewRefreshToken(ctx, token.RefreshGrant{TenantID: e.tidA, ObjectID: "u", ClientID: "c"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.iss.RedeemRefreshToken(ctx, rt)
	if err != nil || g.ObjectID != "u" {
		t.Fatal(err)
	}
	if _, err := e.iss.RedeemRefreshToken(ctx, rt); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("second redemption: %v", err)
	}
	if _, err := e.iss.RedeemRefreshToken(ctx, rt+"x"); !errors.Is(err, token.ErrInvalid) {
		t.Fatal("unknown token")
	}
	rt2, _ := e.iss.NewRefreshToken(ctx, token.RefreshGrant{TenantID: e.tidA}, -time.Minute)
	if _, err := e.iss.RedeemRefreshToken(ctx, rt2); !errors.Is(err, token.ErrInvalid) {
		t.Fatal("expired refresh token redeemed")
	}
}
