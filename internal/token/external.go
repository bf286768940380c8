package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// External is a trusted external OIDC issuer. Its tokens are verified
// only with its own key set, fetched through Fetch — which the composition
// root builds from configuration (a JWKS URL or file), never from anything
// a token says. Principals are named by immutable ids only: the
// ObjectIDClaim (for issuers like Entra ID whose tid+oid are immutable),
// or else a GUID derived from iss+sub (ExternalObjectID). Mutable claims
// such as email, upn or preferred_username are never used.
type External struct {
	// Issuer is the exact iss value.
	Issuer string
	// Audience, when set, lets the issuer's tokens be presented directly as
	// bearer tokens whose aud contains Audience. Empty: the issuer is
	// trusted only for federated credentials.
	Audience string
	// TenantID is the mhsm tenant whose resources direct tokens may use.
	TenantID string
	// ObjectIDClaim names a claim holding a GUID object id; empty means
	// the object id is ExternalObjectID(iss, sub).
	ObjectIDClaim string
	// ExternalTenantID, when set, must equal the token's tid claim.
	ExternalTenantID string
	// GroupsClaim names the claim holding group object ids; empty means
	// "groups".
	GroupsClaim string
	// Fetch returns the issuer's JWKS document.
	Fetch func(ctx context.Context) ([]byte, error)

	now  func() time.Time
	mu   sync.Mutex
	keys jose.JSONWebKeySet
	got  time.Time // when keys were fetched
	try  time.Time // last fetch attempt
}

// Key-set freshness: refetched after jwksRefresh, or on an unknown kid at
// most once per jwksRetry; past jwksMaxStale without a successful fetch,
// every token of the issuer is refused (fail closed).
const (
	jwksRefresh  = time.Hour
	jwksRetry    = 30 * time.Second
	jwksMaxStale = 24 * time.Hour
	// MaxExternalLifetime bounds how far ahead an external token's exp may be.
	MaxExternalLifetime = 24 * time.Hour
)

var externalAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.ES256, jose.ES384}

// externalNS is the namespace of ExternalObjectID's name-based GUIDs.
var externalNS = uuid.MustParse("6f1d3f0e-3c55-4c1a-9a53-6d68736d0001")

// ExternalObjectID is the object id mhsm gives the principal iss+sub of an
// external issuer: a name-based (SHA-1, version 5) GUID, stable across
// restarts, which role assignments name.
func ExternalObjectID(iss, sub string) string {
	return uuid.NewSHA1(externalNS, []byte(iss+"\n"+sub)).String()
}

// AddExternal trusts e. Issuers must be distinct and must not collide
// with mhsm's own issuer URLs.
func (v *Verifier) AddExternal(e *External) error {
	if e.Issuer == "" || e.Fetch == nil {
		return errors.New("token: external issuer needs an issuer and a key source")
	}
	if e.Audience != "" && e.TenantID == "" {
		return fmt.Errorf("token: external issuer %s: a tenant is required with an audience", e.Issuer)
	}
	if e.now == nil {
		e.now = v.now
	}
	v.extMu.Lock()
	defer v.extMu.Unlock()
	if _, dup := v.externals[e.Issuer]; dup {
		return fmt.Errorf("token: external issuer %s configured twice", e.Issuer)
	}
	v.externals[e.Issuer] = e
	return nil
}

// HasExternal reports whether iss is a configured external issuer.
func (v *Verifier) HasExternal(iss string) bool { return v.external(iss) != nil }

func (v *Verifier) external(iss string) *External {
	v.extMu.RLock()
	defer v.extMu.RUnlock()
	return v.externals[iss]
}

// key returns the issuer's key kid, refreshing the set when it is old or
// kid is unknown.
func (e *External) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	find := func() *jose.JSONWebKey {
		for i := range e.keys.Keys {
			if e.keys.Keys[i].KeyID == kid {
				return &e.keys.Keys[i]
			}
		}
		return nil
	}
	k := find()
	if (now.Sub(e.got) > jwksRefresh || k == nil) && now.Sub(e.try) > jwksRetry {
		e.try = now
		if b, err := e.Fetch(ctx); err == nil {
			var set jose.JSONWebKeySet
			if json.Unmarshal(b, &set) == nil {
				e.keys, e.got = set, now
				k = find()
			}
		}
	}
	if k == nil || now.Sub(e.got) > jwksMaxStale || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
		return nil, ErrInvalid
	}
	return k, nil
}

// extClaims is what is read from an external token.
type extClaims struct {
	jwt.Claims
	TenantID string `json:"tid,omitempty"`
}

// verify checks an external token for audience and maps it to Claims.
func (e *External) verify(ctx context.Context, raw string, hb, pb []byte, audience string, now time.Time) (*Claims, error) {
	if audience == "" {
		return nil, ErrInvalid
	}
	c, all, err := e.check(ctx, raw, hb, audience, now)
	if err != nil {
		return nil, err
	}
	out := &Claims{Claims: c.Claims, TenantID: e.TenantID, IDType: IDTypeExternal}
	out.ObjectID = ExternalObjectID(c.Issuer, c.Subject)
	if e.ObjectIDClaim != "" {
		s, _ := all[e.ObjectIDClaim].(string)
		id, err := uuid.Parse(s)
		if err != nil || id.String() != s {
			return nil, ErrInvalid
		}
		out.ObjectID = s
	}
	if e.ExternalTenantID != "" && c.TenantID != e.ExternalTenantID {
		return nil, ErrInvalid
	}
	gc := e.GroupsClaim
	if gc == "" {
		gc = "groups"
	}
	if g, ok := all[gc]; ok {
		arr, ok := g.([]any)
		if !ok {
			return nil, ErrInvalid
		}
		for _, x := range arr {
			s, ok := x.(string)
			if !ok {
				return nil, ErrInvalid
			}
			out.Groups = append(out.Groups, s)
		}
	}
	return out, nil
}

// check verifies signature, issuer, audience and time, and returns the
// registered claims and all claims.
func (e *External) check(ctx context.Context, raw string, hb []byte, audience string, now time.Time) (*extClaims, map[string]any, error) {
	h, err := decodeHeader(hb, "alg", "kid", "typ", "x5t")
	if err != nil {
		return nil, nil, ErrInvalid
	}
	alg, _ := h["alg"].(string)
	kid, _ := h["kid"].(string)
	if typ, ok := h["typ"]; ok && typ != "JWT" && typ != "at+jwt" && typ != "application/at+jwt" {
		return nil, nil, ErrInvalid
	}
	if !slices.Contains(externalAlgs, jose.SignatureAlgorithm(alg)) || kid == "" || len(kid) > 256 {
		return nil, nil, ErrInvalid
	}
	k, err := e.key(ctx, kid)
	if err != nil || (k.Algorithm != "" && k.Algorithm != alg) {
		return nil, nil, ErrInvalid
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil || len(tok.Headers) != 1 {
		return nil, nil, ErrInvalid
	}
	var c extClaims
	var all map[string]any
	if err := tok.Claims(k.Key, &c, &all); err != nil {
		return nil, nil, ErrInvalid
	}
	if c.Issuer != e.Issuer || c.Subject == "" || c.Expiry == nil || c.Expiry.Time().After(now.Add(MaxExternalLifetime+Leeway)) {
		return nil, nil, ErrInvalid
	}
	exp := jwt.Expected{Issuer: e.Issuer, AnyAudience: jwt.Audience{audience}, Time: now}
	if err := c.ValidateWithLeeway(exp, Leeway); err != nil {
		return nil, nil, ErrInvalid
	}
	return &c, all, nil
}

// VerifyFederated checks a workload-identity assertion from a configured
// external issuer. audienceFor is asked, with the token's unverified iss
// and sub, for the audience a federated credential expects for that
// subject (ok=false: none trusts it); the token must then carry that
// audience and a valid signature. It returns the verified iss and sub.
func (v *Verifier) VerifyFederated(ctx context.Context, raw string, audienceFor func(iss, sub string) (string, bool)) (string, string, error) {
	hb, pb, err := screen(raw, MaxTokenBytes)
	if err != nil {
		return "", "", ErrInvalid
	}
	var u struct {
		Issuer  string `json:"iss"`
		Subject string `json:"sub"`
	}
	if err := json.Unmarshal(pb, &u); err != nil {
		return "", "", ErrInvalid
	}
	e := v.external(u.Issuer)
	if e == nil {
		return "", "", ErrInvalid
	}
	aud, ok := audienceFor(u.Issuer, u.Subject)
	if !ok || aud == "" {
		return "", "", ErrInvalid
	}
	c, _, err := e.check(ctx, raw, hb, aud, v.now())
	if err != nil || c.Subject != u.Subject {
		return "", "", ErrInvalid
	}
	return c.Issuer, c.Subject, nil
}
