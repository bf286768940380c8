package keys

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// ExportPKCS8 returns the private key in the form key release and BYOK
// use: PKCS#8 DER for RSA and EC (P-256, P-384, P-521), the raw key for
// oct. P-256K has no PKCS#8 encoding in Go's x509 and is refused. The
// caller must clear the result when done.
func (m *Material) ExportPKCS8() ([]byte, error) {
	switch {
	case m.rsaPriv != nil:
		return x509.MarshalPKCS8PrivateKey(m.rsaPriv)
	case m.ecPriv != nil:
		return x509.MarshalPKCS8PrivateKey(m.ecPriv)
	case m.oct != nil:
		return append([]byte(nil), m.oct...), nil
	case m.k1Priv != nil:
		return nil, fmt.Errorf("%w: P-256K keys cannot be exported", ErrBadRequest)
	}
	return nil, fmt.Errorf("%w: no private key to export", ErrBadRequest)
}

// FromPKCS8 imports a private key in the form BYOK transfers it: PKCS#8
// DER for kty RSA-HSM or EC-HSM (P-256, P-384, P-521), the raw key for
// oct-HSM. The same validation as FromJWK applies.
func FromPKCS8(kty string, der []byte) (*Material, error) {
	nk, ok := normalizeKty(kty)
	if !ok {
		return nil, fmt.Errorf("%w: key type %q is not supported", ErrInvalidKeyParams, kty)
	}
	if nk == KtyOct {
		return FromJWK(&JSONWebKey{Kty: KtyOct, K: der})
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: the transferred key is not PKCS#8", ErrInvalidKeyParams)
	}
	var m *Material
	switch priv := k.(type) {
	case *rsa.PrivateKey:
		if nk != KtyRSA {
			return nil, fmt.Errorf("%w: the transferred key is RSA, not %s", ErrInvalidKeyParams, kty)
		}
		m = &Material{kty: KtyRSA, size: priv.N.BitLen(), rsaPriv: priv, rsaPub: &priv.PublicKey}
	case *ecdsa.PrivateKey:
		if nk != KtyEC {
			return nil, fmt.Errorf("%w: the transferred key is EC, not %s", ErrInvalidKeyParams, kty)
		}
		m = &Material{}
		j := JSONWebKey{Kty: KtyEC, Crv: priv.Curve.Params().Name}
		size := (priv.Curve.Params().BitSize + 7) / 8
		j.X, j.Y, j.D = priv.X.FillBytes(make([]byte, size)), priv.Y.FillBytes(make([]byte, size)), priv.D.FillBytes(make([]byte, size))
		return FromJWK(&j)
	default:
		return nil, fmt.Errorf("%w: unsupported transferred key type", ErrInvalidKeyParams)
	}
	// Re-import through the JWK path so RSA keys get its validation.
	j := m.PrivateJWK()
	return FromJWK(&j)
}
