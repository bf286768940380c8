package securitydomain

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"

	"github.com/mhsm/mhsm/internal/wire"
)

// maxCertDER bounds one certificate in a download request.
const maxCertDER = 16 << 10

// ParseWrappingKeys checks a download request's certificates and returns
// them: 3 to 10 distinct X.509 certificates (x5c[0], standard base64) with
// RSA keys of at least 2048 bits. When the JWK also carries n, e or
// x5t#S256 they must agree with the certificate.
func ParseWrappingKeys(jwks []wire.SecurityDomainJSONWebKey) ([]*x509.Certificate, error) {
	if len(jwks) < MinWrappingKeys || len(jwks) > MaxWrappingKeys {
		return nil, fmt.Errorf("%w: %d certificates; between %d and %d are required", ErrMalformed, len(jwks), MinWrappingKeys, MaxWrappingKeys)
	}
	certs := make([]*x509.Certificate, 0, len(jwks))
	seen := map[string]bool{}
	for i, j := range jwks {
		c, err := parseWrappingKey(fmt.Sprintf("certificates[%d]", i), j)
		if err != nil {
			return nil, err
		}
		tp := Thumbprint(c)
		if seen[tp] {
			return nil, errMalformed(fmt.Sprintf("certificates[%d] repeats a certificate: each officer needs a distinct key", i))
		}
		seen[tp] = true
		certs = append(certs, c)
	}
	return certs, nil
}

// parseWrappingKey returns the certificate of one JWK (x5c[0]) after
// checking it holds an RSA key of MinRSABits or more and agrees with the
// JWK's kty, n, e and x5t#S256 where present.
func parseWrappingKey(what string, j wire.SecurityDomainJSONWebKey) (*x509.Certificate, error) {
	if len(j.X5c) == 0 || len(j.X5c[0]) > maxCertDER*2 {
		return nil, errMalformed(what + " has no x5c certificate")
	}
	der, err := base64.StdEncoding.DecodeString(j.X5c[0])
	if err != nil {
		if der, err = base64.RawURLEncoding.DecodeString(j.X5c[0]); err != nil {
			return nil, errMalformed(what + ".x5c[0] is not base64")
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errMalformed(what + ".x5c[0] is not an X.509 certificate")
	}
	pub, err := rsaKeyOf(c)
	if err != nil {
		return nil, errMalformed(fmt.Sprintf("%s: only RSA keys of %d bits or more are supported", what, MinRSABits))
	}
	if j.Kty != "" && j.Kty != "RSA" && j.Kty != "RSA-HSM" {
		return nil, errMalformed(what + ".kty is " + quote(j.Kty) + ", want RSA")
	}
	if j.N != "" && !b64IntEquals(j.N, pub.N) || j.E != "" && !b64IntEquals(j.E, big.NewInt(int64(pub.E))) {
		return nil, errMalformed(what + ": n and e do not match the certificate")
	}
	if j.X5tS256 != "" && j.X5tS256 != Thumbprint(c) {
		return nil, errMalformed(what + ": x5t#S256 does not match the certificate")
	}
	return c, nil
}

func b64IntEquals(s string, v *big.Int) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return false
	}
	return new(big.Int).SetBytes(b).Cmp(v) == 0
}

// WrappingKeyJWK is the JWK the Azure CLI sends for an officer certificate
// (no kid; x5c in standard base64; key_ops verify, encrypt, wrapKey).
func WrappingKeyJWK(c *x509.Certificate) (wire.SecurityDomainJSONWebKey, error) {
	pub, err := rsaKeyOf(c)
	if err != nil {
		return wire.SecurityDomainJSONWebKey{}, err
	}
	return rsaJWK(c, pub, []string{"verify", "encrypt", "wrapKey"}), nil
}

func rsaJWK(c *x509.Certificate, pub *rsa.PublicKey, ops []string) wire.SecurityDomainJSONWebKey {
	sha := sha1.Sum(c.Raw)
	return wire.SecurityDomainJSONWebKey{
		Kty: "RSA", KeyOps: ops, Alg: "RSA-OAEP-256",
		N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		X5c: []string{base64.StdEncoding.EncodeToString(c.Raw)},
		X5t: base64.RawURLEncoding.EncodeToString(sha[:]), X5tS256: Thumbprint(c),
	}
}
