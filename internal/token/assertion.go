package token

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"strings"
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

// ReplayCache remembers assertion ids per client until they expire, so an
// assertion is accepted once. Each client has its own bound
// (MaxReplayPerClient live entries): a client that fills its share is
// refused (fail closed) without touching any other client's. Only
// assertions whose signature verified are recorded, so filling the total
// (MaxReplayTotal) takes many registered clients with valid credentials;
// past it, the cache fails closed for clients with entries to drop until
// entries expire.
type ReplayCache struct {
	mu    sync.Mutex
	seen  map[string]*replayBucket // by client
	total int
	next  time.Time // earliest expiry of any entry (zero: none)
}

// replayBucket is one client's live assertion ids; next is the earliest
// expiry among them, so a full bucket is rescanned only when something in
// it can have expired.
type replayBucket struct {
	ids  map[string]time.Time // jti → exp
	next time.Time
}

// Replay cache bounds.
const (
	MaxReplayPerClient = 10000
	MaxReplayTotal     = 500000
)

// NewReplayCache returns an empty cache.
func NewReplayCache() *ReplayCache { return &ReplayCache{seen: map[string]*replayBucket{}} }

// Seen records jti of client until exp and reports whether it was already
// recorded. When the client's share (or the total) is full, expired entries
// are dropped; if that frees nothing, the new jti is refused as if seen
// (fail closed).
func (r *ReplayCache) Seen(client, jti string, exp, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.seen[client]
	if b != nil {
		if t, ok := b.ids[jti]; ok && now.Before(t.Add(Leeway)) {
			return true
		}
	}
	if b != nil && len(b.ids) >= MaxReplayPerClient {
		r.expire(client, b, now)
		if len(b.ids) >= MaxReplayPerClient {
			return true
		}
	}
	if r.total >= MaxReplayTotal {
		if !r.next.IsZero() && now.After(r.next.Add(Leeway)) {
			r.next = time.Time{}
			for c, cb := range r.seen {
				r.expire(c, cb, now)
				if !cb.next.IsZero() && (r.next.IsZero() || cb.next.Before(r.next)) {
					r.next = cb.next
				}
			}
		}
		if r.total >= MaxReplayTotal {
			return true
		}
	}
	if b == nil || r.seen[client] == nil {
		b = &replayBucket{ids: map[string]time.Time{}}
		r.seen[client] = b
	}
	if _, ok := b.ids[jti]; !ok {
		r.total++
	}
	b.ids[jti] = exp
	if b.next.IsZero() || exp.Before(b.next) {
		b.next = exp
	}
	if r.next.IsZero() || exp.Before(r.next) {
		r.next = exp
	}
	return false
}

// expire drops the expired entries of client's bucket b, if its earliest
// expiry says there are any.
func (r *ReplayCache) expire(client string, b *replayBucket, now time.Time) {
	if b.next.IsZero() || !now.After(b.next.Add(Leeway)) {
		return
	}
	b.next = time.Time{}
	for k, t := range b.ids {
		if now.After(t.Add(Leeway)) {
			delete(b.ids, k)
			r.total--
		} else if b.next.IsZero() || t.Before(b.next) {
			b.next = t
		}
	}
	if len(b.ids) == 0 {
		delete(r.seen, client)
	}
}

// AssertionReplayed records a client assertion (by client and jti) until
// it expires and reports whether it had been presented before.
func (v *Verifier) AssertionReplayed(clientID, jti string, exp time.Time) bool {
	return v.replay.Seen(strings.ToLower(clientID), jti, exp, v.now())
}

// Now is the verifier's clock.
func (v *Verifier) Now() time.Time { return v.now() }
