package token

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"regexp"
	"time"
)

// CodeGrant is what an authorization code stands for: a user's sign-in
// on the login page for one public client, redirect URI and PKCE
// challenge (RFC 7636, S256 only). Codes are opaque 256-bit random
// values; only their SHA-256 digest is stored, and each is redeemed once.
type CodeGrant struct {
	TenantID    string    `json:"tid"`
	ObjectID    string    `json:"oid"`
	ClientID    string    `json:"clientId"`
	RedirectURI string    `json:"redirectUri"`
	Challenge   string    `json:"challenge"`
	Issued      time.Time `json:"issued"`
	Expires     time.Time `json:"expires"`
}

// CodeLifetime is how long an authorization code may be redeemed.
const CodeLifetime = 2 * time.Minute

var (
	challengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	verifierPattern  = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

// ValidChallenge reports whether c is an S256 code challenge (the
// base64url of a SHA-256 digest, no padding).
func ValidChallenge(c string) bool { return challengePattern.MatchString(c) }

// VerifyPKCE reports whether verifier (RFC 7636 §4.1) hashes to the S256
// challenge, compared in constant time.
func VerifyPKCE(verifier, challenge string) bool {
	if !verifierPattern.MatchString(verifier) || !ValidChallenge(challenge) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// NewAuthCode stores g (valid for CodeLifetime) and returns its code
// (singleuse.go).
func (i *Issuer) NewAuthCode(ctx context.Context, g CodeGrant) (string, error) {
	g.Issued = i.now().UTC()
	g.Expires = g.Issued.Add(CodeLifetime)
	return i.storeOnce(ctx, "mhsmac", "tokcode/", g)
}

// RedeemAuthCode consumes raw and returns its grant, or ErrInvalid if it
// is unknown, already used or expired. The code is consumed even when the
// caller then refuses the grant (wrong client, redirect or verifier), so a
// code cannot be guessed against twice.
func (i *Issuer) RedeemAuthCode(ctx context.Context, raw string) (*CodeGrant, error) {
	var g CodeGrant
	if err := i.redeemOnce(ctx, "tokcode/", raw, &g, func() time.Time { return g.Expires }); err != nil {
		return nil, err
	}
	return &g, nil
}
