package token

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrInvalid is the only error Verify returns for a bad token: the caller
// answers 401 without saying what was wrong.
var ErrInvalid = errors.New("token: invalid")

// MaxTokenBytes bounds the size of a token accepted for parsing.
const MaxTokenBytes = 16 << 10

// Leeway is the clock skew tolerated on exp and nbf.
const Leeway = time.Minute

// Verifier checks tokens issued by an Issuer: RS256 only, the tenant's own
// key, the exact issuer URL for that tenant, the audience, and time.
// Verified tokens are cached by their SHA-256 digest until they expire.
type Verifier struct {
	issuer   *Issuer
	issuerOf func(tid string) string
	now      func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]*cached
}

type cached struct {
	claims *Claims
	aud    string
	exp    time.Time
}

const maxCache = 50000

// NewVerifier returns a Verifier. issuerOf maps a tenant id to the exact
// issuer URL its tokens must carry.
func NewVerifier(i *Issuer, issuerOf func(tid string) string) *Verifier {
	return &Verifier{issuer: i, issuerOf: issuerOf, now: time.Now, cache: map[[32]byte]*cached{}}
}

// Verify validates raw for audience and returns its claims, or ErrInvalid.
func (v *Verifier) Verify(ctx context.Context, raw, audience string) (*Claims, error) {
	if len(raw) == 0 || len(raw) > MaxTokenBytes {
		return nil, ErrInvalid
	}
	digest := sha256.Sum256([]byte(raw))
	now := v.now()
	v.mu.Lock()
	if c, ok := v.cache[digest]; ok {
		v.mu.Unlock()
		if c.aud == audience && now.Before(c.exp.Add(Leeway)) {
			return c.claims, nil
		}
		return nil, ErrInvalid
	}
	v.mu.Unlock()

	c, err := v.verify(ctx, raw, audience, now)
	if err != nil {
		return nil, ErrInvalid
	}
	v.mu.Lock()
	if len(v.cache) >= maxCache {
		for k, e := range v.cache { // drop expired entries, or everything if none expired
			if now.After(e.exp.Add(Leeway)) {
				delete(v.cache, k)
			}
		}
		if len(v.cache) >= maxCache {
			clear(v.cache)
		}
	}
	v.cache[digest] = &cached{claims: c, aud: audience, exp: c.Expiry.Time()}
	v.mu.Unlock()
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, raw, audience string, now time.Time) (*Claims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, ErrInvalid
	}
	kid := tok.Headers[0].KeyID
	// The tenant is read from the unverified payload only to choose which
	// tenant's keys to verify with; the signature check below binds it.
	var unverified Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, ErrInvalid
	}
	tid := strings.ToLower(unverified.TenantID)
	if tid == "" || kid == "" {
		return nil, ErrInvalid
	}
	key, err := v.issuer.PublicKey(ctx, tid, kid)
	if err != nil {
		return nil, ErrInvalid
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return nil, ErrInvalid
	}
	if c.TenantID != tid || c.ObjectID == "" || c.Expiry == nil || c.NotBefore == nil {
		return nil, ErrInvalid
	}
	exp := jwt.Expected{Issuer: v.issuerOf(tid), AnyAudience: jwt.Audience{audience}, Time: now}
	if err := c.ValidateWithLeeway(exp, Leeway); err != nil {
		return nil, ErrInvalid
	}
	return &c, nil
}
