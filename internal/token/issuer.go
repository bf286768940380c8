// Package token issues and verifies mhsm's OAuth2 access tokens: RS256 JWTs
// with Microsoft identity platform claims, signed by a per-tenant key that is
// stored sealed by the barrier. Parsing and signing use go-jose; nothing here
// hand-parses JWTs. Read issuer.go, then verifier.go.
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
	Groups   []string `json:"groups,omitempty"`
	Version  string   `json:"ver,omitempty"`
}

// signingKey is one tenant signing key as stored (sealed PKCS#8).
type signingKey struct {
	Kid     string    `json:"kid"`
	Created time.Time `json:"created"`
	Sealed  []byte    `json:"sealed"`
}

type tenantKeys struct {
	active *rsa.PrivateKey
	kid    string
	public map[string]*rsa.PublicKey
	jwks   jose.JSONWebKeySet
}

// Issuer signs tokens with per-tenant keys kept in the store.
type Issuer struct {
	st  store.Backend
	dk  *barrier.DataKey
	now func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantKeys
}

// NewIssuer returns an Issuer whose signing keys are sealed with dk.
func NewIssuer(st store.Backend, dk *barrier.DataKey) *Issuer {
	return &Issuer{st: st, dk: dk, now: time.Now, tenants: map[string]*tenantKeys{}}
}

func keyPrefix(tid string) string { return "tok/" + tid + "/key/" }

// load returns the tenant's keys, creating the first signing key on demand.
func (i *Issuer) load(ctx context.Context, tid string) (*tenantKeys, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if tk, ok := i.tenants[tid]; ok {
		return tk, nil
	}
	var stored []store.KV
	err := i.st.View(ctx, func(tx store.Tx) error {
		var err error
		stored, err = tx.List(keyPrefix(tid), "", 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		if err := i.createKey(ctx, tid); err != nil {
			return nil, err
		}
		return i.loadLocked(ctx, tid)
	}
	return i.decode(tid, stored)
}

func (i *Issuer) loadLocked(ctx context.Context, tid string) (*tenantKeys, error) {
	var stored []store.KV
	if err := i.st.View(ctx, func(tx store.Tx) error {
		var err error
		stored, err = tx.List(keyPrefix(tid), "", 0)
		return err
	}); err != nil {
		return nil, err
	}
	return i.decode(tid, stored)
}

func (i *Issuer) decode(tid string, stored []store.KV) (*tenantKeys, error) {
	tk := &tenantKeys{public: map[string]*rsa.PublicKey{}}
	var keys []signingKey
	for _, kv := range stored {
		var sk signingKey
		if err := json.Unmarshal(kv.Value, &sk); err != nil {
			return nil, fmt.Errorf("token: decode signing key: %w", err)
		}
		keys = append(keys, sk)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].Created.Before(keys[b].Created) })
	for _, sk := range keys {
		der, err := i.dk.Open(sk.Sealed, []byte(keyPrefix(tid)+sk.Kid))
		if err != nil {
			return nil, fmt.Errorf("token: open signing key %s: %w", sk.Kid, err)
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, err
		}
		priv, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("token: signing key is not RSA")
		}
		tk.active, tk.kid = priv, sk.Kid
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
	sk := signingKey{Kid: kid, Created: i.now().UTC(), Sealed: i.dk.Seal(der, []byte(keyPrefix(tid)+kid))}
	b, _ := json.Marshal(sk)
	return i.st.Update(ctx, func(tx store.Tx) error { return tx.Put(keyPrefix(tid)+kid, b) })
}

// JWKS returns the tenant's public signing keys.
func (i *Issuer) JWKS(ctx context.Context, tid string) (jose.JSONWebKeySet, error) {
	tk, err := i.load(ctx, tid)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return tk.jwks, nil
}

// PublicKey returns the tenant's public key kid, or an error if unknown.
// It never creates keys.
func (i *Issuer) PublicKey(ctx context.Context, tid, kid string) (crypto.PublicKey, error) {
	i.mu.Lock()
	tk, ok := i.tenants[tid]
	i.mu.Unlock()
	if !ok {
		var n int
		_ = i.st.View(ctx, func(tx store.Tx) error {
			kvs, err := tx.List(keyPrefix(tid), "", 1)
			n = len(kvs)
			return err
		})
		if n == 0 {
			return nil, ErrInvalid
		}
		var err error
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

// Issue signs c (after filling iat/nbf/exp from lifetime) with the tenant's
// active key and returns the compact JWT and its expiry.
func (i *Issuer) Issue(ctx context.Context, c Claims, lifetime time.Duration) (string, time.Time, error) {
	tk, err := i.load(ctx, c.TenantID)
	if err != nil {
		return "", time.Time{}, err
	}
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
