package token

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/store"
)

// ErrInvalid is the only error Verify returns for a bad token: the caller
// answers 401 without saying what was wrong.
var ErrInvalid = errors.New("token: invalid")

// MaxTokenBytes bounds the size of a token accepted for parsing.
const MaxTokenBytes = 16 << 10

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = time.Minute

// ActiveFunc reports whether the principal oid of tenant tid may still act
// (exists and is enabled).
type ActiveFunc func(ctx context.Context, tid, oid string) (bool, error)

// Verifier checks tokens issued by an Issuer — RS256 only, the tenant's
// own key, the exact issuer URL for that tenant, the audience, time — and
// tokens of configured external issuers (AddExternal). Verified tokens are
// cached by their SHA-256 digest until they expire.
//
// Revocation: with SetPrincipalCheck, every token mhsm issued is accepted
// only while its principal is active. The check runs on first
// verification and again on a cache hit whenever the directory's
// generation has changed since, so disabling or deleting a principal
// takes effect on its very next request, cached or not.
type Verifier struct {
	issuer   *Issuer
	issuerOf func(tid string) string
	now      func() time.Time
	active   ActiveFunc
	gen      func() uint64

	extMu     sync.RWMutex
	externals map[string]*External

	mu    sync.Mutex
	cache map[[32]byte]*cached

	replay *ReplayCache
}

type cached struct {
	claims *Claims
	aud    string
	exp    time.Time
	gen    uint64
}

const maxCache = 50000

// NewVerifier returns a Verifier. issuerOf maps a tenant id to the exact
// issuer URL its tokens must carry.
func NewVerifier(i *Issuer, issuerOf func(tid string) string) *Verifier {
	return &Verifier{issuer: i, issuerOf: issuerOf, now: time.Now, cache: map[[32]byte]*cached{}, externals: map[string]*External{}, replay: NewReplayCache()}
}

// SetPrincipalCheck makes the verifier accept mhsm's own tokens only for
// active principals, re-checking cached tokens when generation changes.
func (v *Verifier) SetPrincipalCheck(generation func() uint64, active ActiveFunc) {
	v.mu.Lock()
	v.gen, v.active = generation, active
	v.mu.Unlock()
}

func (v *Verifier) generation() uint64 {
	if v.gen == nil {
		return 0
	}
	return v.gen()
}

// Digest is the SHA-256 of a raw bearer token: the verifier's cache key,
// and what an audit record correlates a token by (Hex, recorded as an HMAC
// under the audit key). It reveals nothing usable about the token. The
// zero Digest means "not computed"; make one with DigestOf or get the one
// VerifyDigest computed.
type Digest struct {
	sum [sha256.Size]byte
	set bool
}

// DigestOf returns the Digest of raw.
func DigestOf(raw string) Digest {
	return Digest{sum: sha256.Sum256([]byte(raw)), set: true}
}

// IsZero reports whether d was not computed.
func (d Digest) IsZero() bool { return !d.set }

// String does not print the digest: a Digest handed to a log by mistake
// shows nothing correlatable. Hex is for audit.Event.Hash.
func (d Digest) String() string { return "token.Digest{…}" }

// GoString is String, for %#v.
func (d Digest) GoString() string { return d.String() }

// Hex is the lower-case hex SHA-256, or "" for the zero Digest.
func (d Digest) Hex() string {
	if !d.set {
		return ""
	}
	return hex.EncodeToString(d.sum[:])
}

// Verify validates raw for audience and returns its claims, or ErrInvalid.
// The returned claims may be shared with other callers: do not modify.
func (v *Verifier) Verify(ctx context.Context, raw, audience string) (*Claims, error) {
	c, _, err := v.VerifyDigest(ctx, raw, audience)
	return c, err
}

// VerifyDigest is Verify also returning the Digest of raw it computed for
// its cache, so a caller that needs it (the audit record of the request)
// does not hash the token again. The Digest is returned whether or not raw
// is valid; it is zero only when raw was refused before hashing (empty or
// longer than MaxTokenBytes).
func (v *Verifier) VerifyDigest(ctx context.Context, raw, audience string) (*Claims, Digest, error) {
	if len(raw) == 0 || len(raw) > MaxTokenBytes {
		return nil, Digest{}, ErrInvalid
	}
	d := DigestOf(raw)
	c, err := v.verifyDigest(ctx, raw, audience, d.sum)
	return c, d, err
}

// verifyDigest is Verify given digest, the SHA-256 of raw.
func (v *Verifier) verifyDigest(ctx context.Context, raw, audience string, digest [sha256.Size]byte) (*Claims, error) {
	now := v.now()
	v.mu.Lock()
	var e cached
	ce, hit := v.cache[digest]
	if hit {
		e = *ce
	}
	v.mu.Unlock()
	if hit {
		if e.aud != audience || !now.Before(e.exp.Add(Leeway)) {
			return nil, ErrInvalid
		}
		if g := v.generation(); e.gen != g {
			ok, err := v.stillActive(ctx, e.claims)
			if err != nil {
				return nil, err // the directory could not be read: no verdict
			}
			if !ok {
				v.mu.Lock()
				delete(v.cache, digest)
				v.mu.Unlock()
				return nil, ErrInvalid
			}
			v.mu.Lock()
			ce.gen = g
			v.mu.Unlock()
		}
		return e.claims, nil
	}

	gen := v.generation()
	c, err := v.verify(ctx, raw, audience, now)
	if errors.Is(err, store.ErrUnavailable) {
		return nil, err
	}
	if err != nil {
		return nil, ErrInvalid
	}
	if ok, err := v.stillActive(ctx, c); err != nil {
		return nil, err // the directory could not be read: no verdict
	} else if !ok {
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
	v.cache[digest] = &cached{claims: c, aud: audience, exp: c.Expiry.Time(), gen: gen}
	v.mu.Unlock()
	return c, nil
}

// stillActive applies the principal check to tokens mhsm issued.
func (v *Verifier) stillActive(ctx context.Context, c *Claims) (bool, error) {
	if v.active == nil || c.IDType == IDTypeExternal {
		return true, nil
	}
	ok, err := v.active(ctx, c.TenantID, c.ObjectID)
	if err != nil {
		return false, fmt.Errorf("token: principal check: %w", err)
	}
	return ok, nil
}

// unverified is what is read from a payload before its signature is
// checked, only to choose the key set; the signature check binds it.
type unverified struct {
	Issuer   string `json:"iss"`
	TenantID string `json:"tid"`
}

func (v *Verifier) verify(ctx context.Context, raw, audience string, now time.Time) (*Claims, error) {
	hb, pb, err := screen(raw, MaxTokenBytes)
	if err != nil {
		return nil, ErrInvalid
	}
	var u unverified
	if err := json.Unmarshal(pb, &u); err != nil {
		return nil, ErrInvalid
	}
	if ext := v.external(u.Issuer); ext != nil {
		return ext.verify(ctx, raw, hb, pb, ext.Audience, now)
	}
	return v.verifyOwn(ctx, raw, hb, pb, u, audience, now)
}

func (v *Verifier) verifyOwn(ctx context.Context, raw string, hb, pb []byte, u unverified, audience string, now time.Time) (*Claims, error) {
	h, err := decodeHeader(hb, "alg", "kid", "typ")
	if err != nil || h["alg"] != string(jose.RS256) || h["typ"] != "JWT" {
		return nil, ErrInvalid
	}
	kid, _ := h["kid"].(string)
	tid, err := uuid.Parse(u.TenantID)
	if err != nil || tid.String() != u.TenantID || kid == "" || len(kid) > 128 || u.Issuer != v.issuerOf(u.TenantID) {
		return nil, ErrInvalid
	}
	if err := integerTimes(pb, now, v.issuer.maxLifetimeNow()); err != nil {
		return nil, ErrInvalid
	}
	key, err := v.issuer.PublicKey(ctx, u.TenantID, kid)
	if errors.Is(err, store.ErrUnavailable) {
		return nil, err // no verdict: the keys could not be read
	}
	if err != nil {
		return nil, ErrInvalid
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 || tok.Headers[0].KeyID != kid {
		return nil, ErrInvalid
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return nil, ErrInvalid
	}
	if c.TenantID != u.TenantID || c.Issuer != u.Issuer || c.ObjectID == "" || c.Subject == "" ||
		c.Expiry == nil || c.NotBefore == nil || c.IssuedAt == nil ||
		(c.IDType != IDTypeApp && c.IDType != IDTypeUser) {
		return nil, ErrInvalid
	}
	exp := jwt.Expected{Issuer: v.issuerOf(u.TenantID), AnyAudience: jwt.Audience{audience}, Time: now}
	if err := c.ValidateWithLeeway(exp, Leeway); err != nil {
		return nil, ErrInvalid
	}
	return &c, nil
}

// integerTimes requires exp, nbf and iat to be integers, exp no further
// ahead than the longest lifetime mhsm issues, and iat not in the future.
func integerTimes(pb []byte, now time.Time, maxLifetime time.Duration) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(pb, &m); err != nil {
		return errStrict
	}
	vals := map[string]int64{}
	for _, k := range []string{"exp", "nbf", "iat"} {
		r, ok := m[k]
		if !ok {
			return errStrict
		}
		var n json.Number
		if err := json.Unmarshal(r, &n); err != nil {
			return errStrict
		}
		i, err := n.Int64()
		if err != nil || i < 0 || strings.ContainsAny(string(n), ".eE") {
			return errStrict
		}
		vals[k] = i
	}
	limit := now.Add(maxLifetime + Leeway).Unix()
	if vals["exp"] > limit || vals["iat"] > now.Add(Leeway).Unix() {
		return errStrict
	}
	return nil
}

func (i *Issuer) maxLifetimeNow() time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.maxLifetime
}
