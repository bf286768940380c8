package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// Single-use grants (refresh tokens, authorization codes) share one
// mechanism: a random secret "<tag>.<base64url of 32 bytes>" is handed to
// the client, and the grant is stored under prefix + SHA-256(secret), so
// the store never holds the secret itself. Redeeming deletes the grant in
// the same transaction that reads it: a secret works once, and a replay
// finds nothing.

// newSecret returns a fresh secret with the given tag.
func newSecret(tag string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return tag + "." + base64.RawURLEncoding.EncodeToString(b), nil
}

// secretKey is the store key of a secret's grant.
func secretKey(prefix, raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return prefix + hex.EncodeToString(sum[:])
}

// storeOnce stores grant for a fresh secret of tag under prefix and returns
// the secret.
func (i *Issuer) storeOnce(ctx context.Context, tag, prefix string, grant any) (string, error) {
	raw, err := newSecret(tag)
	if err != nil {
		return "", err
	}
	v, err := json.Marshal(grant)
	if err != nil {
		return "", err
	}
	if err := i.st.Update(ctx, func(tx store.Tx) error { return tx.Put(secretKey(prefix, raw), v) }); err != nil {
		return "", err
	}
	return raw, nil
}

// redeemOnce consumes the grant stored for raw under prefix into grant,
// and returns ErrInvalid if it is unknown, already used, or expired by the
// time expires (read from the decoded grant) names.
func (i *Issuer) redeemOnce(ctx context.Context, prefix, raw string, grant any, expires func() time.Time) error {
	if len(raw) == 0 || len(raw) > 256 {
		return ErrInvalid
	}
	err := i.st.Update(ctx, func(tx store.Tx) error {
		err := store.GetJSON(tx, secretKey(prefix, raw), grant)
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvalid
		}
		if err != nil {
			return err
		}
		return tx.Delete(secretKey(prefix, raw))
	})
	if err != nil {
		return err
	}
	if i.now().After(expires()) {
		return ErrInvalid
	}
	return nil
}
