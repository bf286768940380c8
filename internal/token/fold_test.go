package token_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/token"
	"github.com/mhsm/mhsm/internal/token/tokentest"
)

// TestFoldedDuplicateClaimRefused: a token whose claims hold "iss" and
// "iſs" (U+017F LATIN SMALL LETTER LONG S) is refused, even when both name
// the right issuer and the signature is good. encoding/json, and so
// go-jose, folds the two names into one claim and keeps the last; the
// verifier refuses such pairs as the HTTP edge does (strictjson). The
// control — the same claims without the twin, re-signed — verifies.
func TestFoldedDuplicateClaimRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, claims := tokentest.Parts(e.issue(t, e.tidA, uuid.NewString()))
	control, err := e.iss.SignJWT(ctx, e.tidA, claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ver.Verify(ctx, control, aud); err != nil {
		t.Fatalf("control rejected: %v", err)
	}
	for _, twin := range []string{"iſs", "ISS", "tıd"} {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		switch twin {
		case "tıd": // U+0131 dotless i does not fold to i: a different name
			c[twin] = claims["tid"]
		default:
			c[twin] = claims["iss"]
		}
		raw, err := e.iss.SignJWT(ctx, e.tidA, c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.ver.Verify(ctx, raw, aud)
		if want := twin != "tıd"; (err == token.ErrInvalid) != want {
			t.Errorf("claims with %q: Verify error %v, want refused=%v", twin, err, want)
		}
	}
}
