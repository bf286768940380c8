package token

import (
	"context"
	"encoding/json"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// RefreshGrant is what a refresh token stands for: a user's sign-in
// through one client. Refresh tokens are opaque 256-bit random values;
// only their SHA-256 digest is stored, and each is redeemed once (a new
// one is issued with every redemption).
type RefreshGrant struct {
	TenantID string `json:"tid"`
	ObjectID string `json:"oid"`
	ClientID string `json:"clientId"`
	// Confidential records that the client authenticated (with its secret)
	// when the grant was made: redeeming the token then requires the same
	// client authentication, so a leaked refresh token alone is not enough.
	Confidential bool      `json:"confidential,omitempty"`
	Issued       time.Time `json:"issued"`
	Expires      time.Time `json:"expires"`
}

// NewRefreshToken stores g (valid for lifetime) and returns its token
// (singleuse.go).
func (i *Issuer) NewRefreshToken(ctx context.Context, g RefreshGrant, lifetime time.Duration) (string, error) {
	g.Issued = i.now().UTC()
	g.Expires = g.Issued.Add(lifetime)
	return i.storeOnce(ctx, "mhsmrt", "tokrt/", g)
}

// RedeemRefreshToken consumes raw and returns its grant, or ErrInvalid if
// it is unknown, already used or expired.
func (i *Issuer) RedeemRefreshToken(ctx context.Context, raw string) (*RefreshGrant, error) {
	var g RefreshGrant
	if err := i.redeemOnce(ctx, "tokrt/", raw, &g, func() time.Time { return g.Expires }); err != nil {
		return nil, err
	}
	return &g, nil
}

// PurgeRefreshTokens deletes expired refresh tokens.
func (i *Issuer) PurgeRefreshTokens(ctx context.Context) error {
	now := i.now()
	return i.st.Update(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("tokrt/", "", 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var g RefreshGrant
			if json.Unmarshal(kv.Value, &g) != nil || now.After(g.Expires) {
				if err := tx.Delete(kv.Key); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
