package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/store"
)

// ServicePrincipal is an application's identity in a tenant. AppID is the
// OAuth client id; ObjectID is what role assignments name.
type ServicePrincipal struct {
	ObjectID    string   `json:"objectId"`
	AppID       string   `json:"appId"`
	TenantID    string   `json:"tenantId"`
	DisplayName string   `json:"displayName"`
	Enabled     bool     `json:"enabled"`
	Secrets     []Secret `json:"secrets,omitempty"`
}

// Secret is a client secret. Only a SHA-256 digest is stored: secrets are
// 256-bit random values made by the server, so a slow hash adds nothing.
type Secret struct {
	KeyID   string    `json:"keyId"`
	Hint    string    `json:"hint"`
	Digest  []byte    `json:"digest"`
	Expires time.Time `json:"expires"`
}

func spKey(tid, appID string) string { return "dir/" + tid + "/sp/" + strings.ToLower(appID) }

// CreateServicePrincipal registers an application and its service principal.
func (d *Directory) CreateServicePrincipal(ctx context.Context, tid, displayName string) (*ServicePrincipal, error) {
	sp := &ServicePrincipal{ObjectID: uuid.NewString(), AppID: uuid.NewString(), TenantID: tid, DisplayName: displayName, Enabled: true}
	err := d.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(tenantKey(tid)); err != nil {
			return ErrNotFound
		}
		return putJSON(tx, spKey(tid, sp.AppID), sp)
	})
	if err != nil {
		return nil, err
	}
	return sp, nil
}

// ServicePrincipal returns the service principal with client id appID.
func (d *Directory) ServicePrincipal(ctx context.Context, tid, appID string) (*ServicePrincipal, error) {
	var sp ServicePrincipal
	if err := d.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, spKey(tid, appID), &sp) }); err != nil {
		return nil, err
	}
	return &sp, nil
}

// AddSecret creates a client secret valid for validity and returns its
// plaintext, which is shown once and never stored.
func (d *Directory) AddSecret(ctx context.Context, tid, appID string, validity time.Duration) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	plain := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(plain))
	s := Secret{KeyID: uuid.NewString(), Hint: plain[:3], Digest: sum[:], Expires: d.now().Add(validity).UTC()}
	err := d.st.Update(ctx, func(tx store.Tx) error {
		var sp ServicePrincipal
		if err := getJSON(tx, spKey(tid, appID), &sp); err != nil {
			return err
		}
		sp.Secrets = append(sp.Secrets, s)
		return putJSON(tx, spKey(tid, appID), &sp)
	})
	if err != nil {
		return "", err
	}
	return plain, nil
}

// AuthenticateSecret checks a client secret for clientID. Every failure —
// unknown client, disabled, expired or wrong secret — is ErrBadCredential,
// and the digest comparison runs even for unknown clients so that timing
// does not reveal which client ids exist.
func (d *Directory) AuthenticateSecret(ctx context.Context, tid, clientID, secret string) (*ServicePrincipal, error) {
	sum := sha256.Sum256([]byte(secret))
	sp, err := d.ServicePrincipal(ctx, tid, clientID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var candidates []Secret
	if sp != nil {
		candidates = sp.Secrets
	}
	dummy := Secret{Digest: make([]byte, sha256.Size)}
	if len(candidates) == 0 {
		candidates = []Secret{dummy}
	}
	match := 0
	now := d.now()
	for _, s := range candidates {
		eq := subtle.ConstantTimeCompare(s.Digest, sum[:])
		if now.After(s.Expires) {
			eq = 0
		}
		match |= eq
	}
	if sp == nil || match != 1 || !sp.Enabled {
		return nil, ErrBadCredential
	}
	return sp, nil
}
