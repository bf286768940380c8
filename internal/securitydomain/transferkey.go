package securitydomain

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"time"

	"github.com/mhsm/mhsm/internal/wire"
)

// TransferKeyBits is the size of a recovering HSM's transfer key.
const TransferKeyBits = 3072

// NewTransferKey makes a recovering HSM's transfer (exchange) key: an RSA
// key and a self-signed certificate for it, since the CLI wraps the restore
// blob to x5c[0] and names it by its thumbprint. subject names the HSM.
func NewTransferKey(subject string, now time.Time) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, TransferKeyBits)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: subject},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return key, cert, nil
}

// TransferKeyJWK is the transfer key as the service returns it: a JWK with
// kid "<hsm>/transfer_key", alg RSA-OAEP-256 and the certificate in x5c,
// serialised as a JSON string.
func TransferKeyJWK(c *x509.Certificate, kid string) (string, error) {
	pub, err := rsaKeyOf(c)
	if err != nil {
		return "", err
	}
	j := rsaJWK(c, pub, []string{"encrypt", "wrapKey"})
	j.Kid = kid
	b, err := marshal(j)
	return string(b), err
}

// ParseTransferKey reads the transfer_key field of GET /securitydomain/upload
// in either form (a JSON string holding the JWK, as today's service sends, or
// the JWK object older services sent) and returns its certificate.
func ParseTransferKey(raw json.RawMessage) (*x509.Certificate, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var j wire.SecurityDomainJSONWebKey
	if err := decodeStrict(raw, &j); err != nil {
		return nil, err
	}
	return parseWrappingKey("transfer_key", j)
}
