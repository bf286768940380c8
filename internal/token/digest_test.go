package token_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/token"
)

// TestVerifyDigest checks that VerifyDigest returns the SHA-256 of the
// token it was given — for a valid token, on the cached path, for an
// invalid one — and the zero Digest only when the token was refused
// before hashing (empty, oversized).
func TestVerifyDigest(t *testing.T) {
	e := newEnv(t)
	raw := e.issue(t, e.tidA, uuid.NewString())
	hexOf := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	for i, c := range []struct {
		raw   string
		valid bool
	}{{raw, true}, {raw, true}, {"abc.def.ghi", false}, {raw + "x", false}} {
		claims, d, err := e.ver.VerifyDigest(context.Background(), c.raw, aud)
		if (err == nil) != c.valid || (claims != nil) != c.valid {
			t.Errorf("%d: claims %v, err %v; want valid %v", i, claims, err, c.valid)
		}
		if d.IsZero() || d.Hex() != hexOf(c.raw) || d != token.DigestOf(c.raw) {
			t.Errorf("%d: digest %q, want %q", i, d.Hex(), hexOf(c.raw))
		}
	}
	for _, raw := range []string{"", strings.Repeat("a", token.MaxTokenBytes+1)} {
		if _, d, err := e.ver.VerifyDigest(context.Background(), raw, aud); err == nil || !d.IsZero() || d.Hex() != "" {
			t.Errorf("len %d: digest %q, err %v", len(raw), d.Hex(), err)
		}
	}
	if (token.Digest{}).Hex() != "" || !(token.Digest{}).IsZero() {
		t.Error("the zero Digest is not empty")
	}
}

// TestDigestNotPrinted: formatting a Digest shows no part of it.
func TestDigestNotPrinted(t *testing.T) {
	d := token.DigestOf("secret-token")
	for _, s := range []string{fmt.Sprint(d), fmt.Sprintf("%v %+v %#v %s", d, d, d, d)} {
		if strings.Contains(s, d.Hex()[:8]) || strings.Contains(strings.ToLower(s), "true") {
			t.Errorf("formatted Digest %q shows its value", s)
		}
	}
}
