// Package token issues and verifies mhsm's OAuth2 access tokens: RS256 JWTs
// with Microsoft identity platform claims, signed by a per-tenant key that
// is stored sealed by the barrier. Parsing and signing use go-jose; nothing
// here hand-parses JWT signatures (strict.go only pre-screens the JSON).
//
// Signing keys rotate (Rotate, Maintain): a new key signs from then on, and
// the old one stays in the tenant's JWKS and in the verifier until every
// token it signed has expired, then it is deleted.
//
// The Verifier accepts a token only when every check passes: compact
// serialization only, bounded size, strict JSON (no duplicate or
// case-variant keys), RS256 with the claimed tenant's own key named by kid
// (never a key the token carries), exact issuer, audience, time. Tokens of
// configured external OIDC issuers are checked against that issuer's own
// key set only (external.go). Client assertions for the token endpoint
// (certificate and federated credentials) are checked in assertion.go.
//
// Read issuer.go, verifier.go, external.go, assertion.go.
package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/store"
)

// Claims are the claims mhsm puts in access tokens.
type Claims struct {
	jwt.Claims
	TenantID string   `json:"tid,omitempty"`
	ObjectID string   `json:"oid,omitempty"`
	AppID    string   `json:"appid,omitempty"`
	Azp      string   `json:"azp,omitempty"`
	IDType   string   `json:"idtyp,omitempty"`
	UPN      string   `json:"upn,omitempty"`
	Name     string   `json:"name,omitempty"`
	Scope    string   `json:"scp,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	// ClaimNames and ClaimSources carry the groups overage indication
	// instead of Groups when a principal is in more than MaxGroupsInToken
	// groups, as Entra ID does.
	ClaimNames   map[string]string            `json:"_claim_names,omitempty"`
	ClaimSources map[string]map[string]string `json:"_claim_sources,omitempty"`
	Version      string                       `json:"ver,omitempty"`
}

// MaxGroupsInToken is the overage limit: past it, a token names where to
// read the groups instead of listing them.
const MaxGroupsInToken = 200

// Identity types (idtyp).
const (
	IDTypeApp  = "app"
	IDTypeUser = "user"
	// IDTypeExternal marks claims from a configured external issuer; it is
	// never put in a token mhsm signs.
	IDTypeExternal = "external"
)

// signingKey is one tenant signing key as stored (sealed PKCS#8).
// Retired is when a newer key took over (zero for the active key).
type signingKey struct {
	Kid     string    `json:"kid"`
	Created time.Time `json:"created"`
	Retired time.Time `json:"retired,omitzero"`
	Sealed  []byte    `json:"sealed"`
}

type tenantKeys struct {
	active *rsa.PrivateKey
	kid    string
	since  time.Time
	public map[string]*rsa.PublicKey
	jwks   jose.JSONWebKeySet
}

// Issuer signs tokens with per-tenant keys kept in the store.
type Issuer struct {
	st  store.Backend
	dk  *barrier.DataKey
	now func() time.Time
	// maxLifetime is the longest lifetime Issue grants; retired keys stay
	// published for this long (plus Leeway) after they stop signing.
	maxLifetime time.Duration

	mu      sync.Mutex
	tenants map[string]*tenantKeys
}

// DefaultMaxLifetime bounds token lifetimes unless SetMaxLifetime changes it.
const DefaultMaxLifetime = 24 * time.Hour

// NewIssuer returns an Issuer whose signing keys are sealed with dk.
func NewIssuer(st store.Backend, dk *barrier.DataKey) *Issuer {
	return &Issuer{st: st, dk: dk, now: time.Now, tenants: map[string]*tenantKeys{}, maxLifetime: DefaultMaxLifetime}
}

// SetMaxLifetime sets the longest token lifetime Issue grants, which is
// also how long a retired key stays published.
func (i *Issuer) SetMaxLifetime(d time.Duration) {
	i.mu.Lock()
	i.maxLifetime = d
	i.mu.Unlock()
}

func keyPrefix(tid string) string { return "tok/" + tid + "/key/" }

// load returns the tenant's keys, creating the first signing key on demand.
func (i *Issuer) load(ctx context.Context, tid string) (*tenantKeys, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if tk, ok := i.tenants[tid]; ok {
		return tk, nil
	}
	stored, err := i.stored(ctx, tid)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		if err := i.createKey(ctx, tid); err != nil {
			return nil, err
		}
		if stored, err = i.stored(ctx, tid); err != nil {
			return nil, err
		}
	}
	return i.decode(tid, stored)
}

func (i *Issuer) stored(ctx context.Context, tid string) ([]signingKey, error) {
	var keys []signingKey
	err := i.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List(keyPrefix(tid), "", 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var sk signingKey
			if err := json.Unmarshal(kv.Value, &sk); err != nil {
				return fmt.Errorf("token: decode signing key: %w", err)
			}
			keys = append(keys, sk)
		}
		return nil
	})
	sort.Slice(keys, func(a, b int) bool { return keys[a].Created.Before(keys[b].Created) })
	return keys, err
}

// decode opens the stored keys; the newest is the active one. Called with
// i.mu held.
func (i *Issuer) decode(tid string, keys []signingKey) (*tenantKeys, error) {
	tk := &tenantKeys{public: map[string]*rsa.PublicKey{}}
	for _, sk := range keys {
		der, err := i.dk.Open(sk.Sealed, []byte(keyPrefix(tid)+sk.Kid))
		if err != nil {
			return nil, fmt.Errorf("token: open signing key %s: %w", sk.Kid, err)
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		clear(der)
		if err != nil {
			return nil, err
		}
		priv, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("token: signing key is not RSA")
		}
		tk.active, tk.kid, tk.since = priv, sk.Kid, sk.Created
		tk.public[sk.Kid] = &priv.PublicKey
		tk.jwks.Keys = append(tk.jwks.Keys, jose.JSONWebKey{Key: &priv.PublicKey, KeyID: sk.Kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	i.tenants[tid] = tk
	return tk, nil
}

func (i *Issuer) createKey(ctx context.Context, tid string) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	sum := sha256.Sum256(pub)
	kid := base64.RawURLEncoding.EncodeToString(sum[:16])
	now := i.now().UTC()
	sk := signingKey{Kid: kid, Created: now, Sealed: i.dk.Seal(der, []byte(keyPrefix(tid)+kid))}
	clear(der)
	b, _ := json.Marshal(sk)
	return i.st.Update(ctx, func(tx store.Tx) error {
		kvs, err := tx.List(keyPrefix(tid), "", 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs { // the previous active key retires now
			var old signingKey
			if err := json.Unmarshal(kv.Value, &old); err != nil {
				return err
			}
			if old.Retired.IsZero() {
				old.Retired = now
				ob, _ := json.Marshal(old)
				if err := tx.Put(kv.Key, ob); err != nil {
					return err
				}
			}
		}
		return tx.Put(keyPrefix(tid)+kid, b)
	})
}

// Rotate makes a new signing key active for tid. The previous key stays
// published until the tokens it signed have expired (see Maintain).
func (i *Issuer) Rotate(ctx context.Context, tid string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.createKey(ctx, tid); err != nil {
		return err
	}
	stored, err := i.stored(ctx, tid)
	if err != nil {
		return err
	}
	_, err = i.decode(tid, stored)
	return err
}

// Maintain rotates every tenant whose active key is older than maxAge
// (zero: never) and deletes retired keys whose tokens have all expired.
func (i *Issuer) Maintain(ctx context.Context, maxAge time.Duration) error {
	var tids []string
	err := i.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("tok/", "", 0)
		seen := map[string]bool{}
		for _, kv := range kvs {
			parts := strings.Split(kv.Key, "/")
			if len(parts) == 4 && parts[2] == "key" && !seen[parts[1]] {
				seen[parts[1]] = true
				tids = append(tids, parts[1])
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, tid := range tids {
		errs = append(errs, i.maintainTenant(ctx, tid, maxAge))
	}
	return errors.Join(errs...)
}

func (i *Issuer) maintainTenant(ctx context.Context, tid string, maxAge time.Duration) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	keys, err := i.stored(ctx, tid)
	if err != nil || len(keys) == 0 {
		return err
	}
	now := i.now()
	changed := false
	if maxAge > 0 && now.Sub(keys[len(keys)-1].Created) >= maxAge {
		if err := i.createKey(ctx, tid); err != nil {
			return err
		}
		changed = true
	}
	keep := i.maxLifetime + Leeway
	err = i.st.Update(ctx, func(tx store.Tx) error {
		for _, sk := range keys {
			if !sk.Retired.IsZero() && now.Sub(sk.Retired) > keep {
				changed = true
				if err := tx.Delete(keyPrefix(tid) + sk.Kid); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if changed {
		if keys, err = i.stored(ctx, tid); err != nil {
			return err
		}
		_, err = i.decode(tid, keys)
	}
	return err
}

// JWKS returns the tenant's public signing keys, retired ones included
// until their tokens expire.
func (i *Issuer) JWKS(ctx context.Context, tid string) (jose.JSONWebKeySet, error) {
	tk, err := i.load(ctx, tid)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return tk.jwks, nil
}

// ActiveKeyID returns the kid of the key that signs tid's tokens now.
func (i *Issuer) ActiveKeyID(ctx context.Context, tid string) (string, error) {
	tk, err := i.load(ctx, tid)
	if err != nil {
		return "", err
	}
	return tk.kid, nil
}

// PublicKey returns the tenant's public key kid, or ErrInvalid if unknown.
// It never creates keys.
func (i *Issuer) PublicKey(ctx context.Context, tid, kid string) (crypto.PublicKey, error) {
	i.mu.Lock()
	tk, ok := i.tenants[tid]
	i.mu.Unlock()
	if !ok {
		var n int
		err := i.st.View(ctx, func(tx store.Tx) error {
			kvs, err := tx.List(keyPrefix(tid), "", 1)
			n = len(kvs)
			return err
		})
		if errors.Is(err, store.ErrUnavailable) {
			return nil, err // no verdict: the store did not answer
		}
		if n == 0 {
			return nil, ErrInvalid
		}
		if tk, err = i.load(ctx, tid); err != nil {
			return nil, err
		}
	}
	pk, ok := tk.public[kid]
	if !ok {
		return nil, ErrInvalid
	}
	return pk, nil
}

// Issue signs c (after filling iat/nbf/exp from lifetime, capped at the
// maximum lifetime) with the tenant's active key and returns the compact
// JWT and its expiry.
func (i *Issuer) Issue(ctx context.Context, c Claims, lifetime time.Duration) (string, time.Time, error) {
	tk, err := i.load(ctx, c.TenantID)
	if err != nil {
		return "", time.Time{}, err
	}
	i.mu.Lock()
	if lifetime > i.maxLifetime {
		lifetime = i.maxLifetime
	}
	i.mu.Unlock()
	now := i.now()
	exp := now.Add(lifetime)
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now.Add(-5 * time.Minute))
	c.Expiry = jwt.NewNumericDate(exp)
	if c.ID == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		c.ID = base64.RawURLEncoding.EncodeToString(b)
	}
	c.Version = "2.0"
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: tk.active},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", tk.kid))
	if err != nil {
		return "", time.Time{}, err
	}
	raw, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		return "", time.Time{}, err
	}
	return raw, exp, nil
}

// SignJWT signs arbitrary claims (an id_token) with tid's active key.
func (i *Issuer) SignJWT(ctx context.Context, tid string, claims any) (string, error) {
	tk, err := i.load(ctx, tid)
	if err != nil {
		return "", err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: tk.active},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", tk.kid))
	if err != nil {
		return "", err
	}
	return jwt.Signed(sig).Claims(claims).Serialize()
}
