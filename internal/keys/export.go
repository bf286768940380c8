package keys

import (
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
