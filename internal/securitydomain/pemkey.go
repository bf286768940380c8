package securitydomain

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"hash"
)

// Officers keep their wrapping keys as PEM files, as openssl writes them:
// "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY" (PKCS#1, optionally with legacy
// Proc-Type encryption), or "ENCRYPTED PRIVATE KEY" (PKCS#8 with PBES2,
// PBKDF2 and AES-CBC, what `openssl req -newkey` and `openssl genpkey
// -aes256` write with a passphrase). The standard library parses all but the
// last; PBES2 is hand-rolled here (about 60 lines over crypto/pbkdf2 and
// crypto/aes) rather than adding a module for it.

// ErrPassword is returned when an encrypted key does not decrypt with the
// given password (or none was given).
var ErrPassword = errors.New("securitydomain: the private key is encrypted and the password is missing or wrong")

// maxPBKDF2Iterations bounds the work a key file can demand.
const maxPBKDF2Iterations = 10_000_000

// ParsePrivateKeyPEM parses the first private key block in data; password
// is used for encrypted keys.
func ParsePrivateKeyPEM(data, password []byte) (*rsa.PrivateKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("securitydomain: no PEM private key found")
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			der := b.Bytes
			//lint:ignore SA1019 legacy encrypted PEM is what older openssl writes
			if x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck
				var err error
				//lint:ignore SA1019 see above
				if der, err = x509.DecryptPEMBlock(b, password); err != nil { //nolint:staticcheck
					return nil, ErrPassword
				}
			}
			return x509.ParsePKCS1PrivateKey(der)
		case "PRIVATE KEY":
			return pkcs8RSA(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			der, err := decryptPBES2(b.Bytes, password)
			if err != nil {
				return nil, err
			}
			defer clear(der)
			return pkcs8RSA(der)
		}
	}
}

func pkcs8RSA(der []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("securitydomain: the private key is not an RSA key")
	}
	return rk, nil
}

// ParseCertificatePEM parses the first certificate in data (PEM or DER).
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return x509.ParseCertificate(data)
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

var errUnsupportedPBE = errors.New("securitydomain: the encrypted private key uses an unsupported scheme (want PBES2 with PBKDF2 and AES-CBC)")

// decryptPBES2 decrypts an EncryptedPrivateKeyInfo to PKCS#8 DER.
func decryptPBES2(der, password []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 || !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, errUnsupportedPBE
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &p); err != nil || !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, errUnsupportedPBE
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil || kp.Iterations < 1 || kp.Iterations > maxPBKDF2Iterations {
		return nil, errUnsupportedPBE
	}
	var h func() hash.Hash
	switch prf := kp.PRF.Algorithm; {
	case len(prf) == 0 || prf.Equal(oidHMACSHA1):
		h = sha1.New
	case prf.Equal(oidHMACSHA256):
		h = sha256.New
	case prf.Equal(oidHMACSHA384):
		h = sha512.New384
	case prf.Equal(oidHMACSHA512):
		h = sha512.New
	default:
		return nil, errUnsupportedPBE
	}
	var keyLen int
	switch alg := p.Enc.Algorithm; {
	case alg.Equal(oidAES128CBC):
		keyLen = 16
	case alg.Equal(oidAES192CBC):
		keyLen = 24
	case alg.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return nil, errUnsupportedPBE
	}
	var iv []byte
	if _, err := asn1.Unmarshal(p.Enc.Parameters.FullBytes, &iv); err != nil || len(iv) != aes.BlockSize {
		return nil, errUnsupportedPBE
	}
	if len(info.Data) == 0 || len(info.Data)%aes.BlockSize != 0 {
		return nil, ErrPassword
	}
	key, err := pbkdf2.Key(h, string(password), kp.Salt, kp.Iterations, keyLen)
	if err != nil {
		return nil, errUnsupportedPBE
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, info.Data)
	pad := int(out[len(out)-1])
	if pad < 1 || pad > aes.BlockSize || subtle.ConstantTimeCompare(out[len(out)-pad:], repeat(byte(pad), pad)) != 1 {
		clear(out)
		return nil, ErrPassword
	}
	out = out[:len(out)-pad]
	if _, err := x509.ParsePKCS8PrivateKey(out); err != nil {
		clear(out)
		return nil, ErrPassword
	}
	return out, nil
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
