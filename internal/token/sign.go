package token

import (
	"context"

	"github.com/go-jose/go-jose/v4"
)

// SignJWS signs payload with the tenant's active signing key and returns a
// compact JWS (RS256, kid in the header) that anyone can verify with the
// tenant's published JWKS. Used for key release results.
func (i *Issuer) SignJWS(ctx context.Context, tid string, payload []byte) (string, error) {
	tk, err := i.load(ctx, tid)
	if err != nil {
		return "", err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: tk.active},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", tk.kid))
	if err != nil {
		return "", err
	}
	obj, err := sig.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
