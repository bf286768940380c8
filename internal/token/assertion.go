package token

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// CertCredential is a registered certificate a client may sign assertions
// with, and the window in which it is valid.
type CertCredential struct {
	Cert           *x509.Certificate
	Thumbprint     []byte // SHA-1 of the DER (x5t)
	ThumbprintS256 []byte // SHA-256 of the DER (x5t#S256)
	Start, End     time.Time
}

// MaxAssertionLifetime bounds exp-now of a client assertion.
const MaxAssertionLifetime = time.Hour

var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384}

// VerifyClientAssertion checks a certificate client assertion (RFC 7523
// as Microsoft identity platform uses it): the key is one of the client's
// registered certificates, chosen by the x5t#S256 or x5t thumbprint header
// (a certificate the token carries in x5c is never trusted); iss and sub
// are clientID; aud is one of audiences (the token endpoint URLs); exp is
// at most MaxAssertionLifetime ahead; jti is present. It returns the jti
// and exp for replay detection.
func VerifyClientAssertion(raw, clientID string, audiences []string, creds []CertCredential, now time.Time) (string, time.Time, error) {
	hb, _, err := screen(raw, MaxTokenBytes)
	if err != nil {
		return "", time.Time{}, ErrInvalid
	}
	h, err := decodeHeader(hb, "alg", "typ", "kid", "x5t", "x5t#S256", "x5c")
	if err != nil {
		return "", time.Time{}, ErrInvalid
	}
	alg, _ := h["alg"].(string)
	var want []jose.SignatureAlgorithm
	for _, a := range assertionAlgs {
		if string(a) == alg {
			want = []jose.SignatureAlgorithm{a}
		}
	}
	if want == nil {
		return "", time.Time{}, ErrInvalid
	}
	s256 := thumb(h["x5t#S256"])
	s1 := thumb(h["x5t"])
	if s256 == nil && s1 == nil {
		return "", time.Time{}, ErrInvalid
	}
	var cred *CertCredential
	for i := range creds {
		c := &creds[i]
		if (s256 != nil && bytes.Equal(s256, c.ThumbprintS256)) || (s256 == nil && s1 != nil && bytes.Equal(s1, c.Thumbprint)) {
			cred = c
			break
		}
	}
	if cred == nil || now.Before(cred.Start.Add(-Leeway)) || now.After(cred.End.Add(Leeway)) {
		return "", time.Time{}, ErrInvalid
	}
	tok, err := jwt.ParseSigned(raw, want)
	if err != nil || len(tok.Headers) != 1 {
		return "", time.Time{}, ErrInvalid
	}
	var c jwt.Claims
	if err := tok.Claims(cred.Cert.PublicKey, &c); err != nil {
		return "", time.Time{}, ErrInvalid
	}
	if c.Issuer != clientID || c.Subject != clientID || c.ID == "" || len(c.ID) > 256 || c.Expiry == nil ||
		c.Expiry.Time().After(now.Add(MaxAssertionLifetime+Leeway)) {
		return "", time.Time{}, ErrInvalid
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: clientID, Subject: clientID, AnyAudience: audiences, Time: now}, Leeway); err != nil {
		return "", time.Time{}, ErrInvalid
	}
	return c.ID, c.Expiry.Time(), nil
}

// thumb decodes a thumbprint header, which clients encode in standard or
// URL-safe base64, padded or not.
func thumb(v any) []byte {
	s, ok := v.(string)
	if !ok || s == "" || len(s) > 128 {
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}

// ReplayCache remembers assertion ids until they expire, so an assertion
// is accepted once.
type ReplayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// NewReplayCache returns an empty cache.
func NewReplayCache() *ReplayCache { return &ReplayCache{seen: map[string]time.Time{}} }

// Seen records key until exp and reports whether it was already recorded.
// When full, expired entries are dropped; if none are, the new key is
// refused as if seen (fail closed).
func (r *ReplayCache) Seen(key string, exp, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.seen[key]; ok && now.Before(t.Add(Leeway)) {
		return true
	}
	if len(r.seen) >= maxCache {
		for k, t := range r.seen {
			if now.After(t.Add(Leeway)) {
				delete(r.seen, k)
			}
		}
		if len(r.seen) >= maxCache {
			return true
		}
	}
	r.seen[key] = exp
	return false
}

// AssertionReplayed records a client assertion (by client and jti) until
// it expires and reports whether it had been presented before.
func (v *Verifier) AssertionReplayed(clientID, jti string, exp time.Time) bool {
	return v.replay.Seen(clientID+"\n"+jti, exp, v.now())
}

// Now is the verifier's clock.
func (v *Verifier) Now() time.Time { return v.now() }
