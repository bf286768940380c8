package securitydomain

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"
)

// The fixtures in testdata were written by OpenSSL 3 (`openssl genpkey
// -aes-256-cbc`, PBKDF2-HMAC-SHA256, and `openssl pkcs8 -topk8 -v2 aes128
// -v2prf hmacWithSHA1`), password "correct-horse".
func TestParseEncryptedPKCS8(t *testing.T) {
	t.Parallel()
	cert, err := os.ReadFile("testdata/officer-enc.cer")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCertificatePEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"testdata/officer-enc.pem", "testdata/officer-enc-sha1.pem"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParsePrivateKeyPEM(data, []byte("correct-horse"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !k.PublicKey.Equal(c.PublicKey) {
			t.Fatalf("%s: key does not match its certificate", name)
		}
		for _, pw := range [][]byte{nil, []byte("wrong")} {
			if _, err := ParsePrivateKeyPEM(data, pw); !errors.Is(err, ErrPassword) {
				t.Fatalf("%s with password %q: err = %v, want ErrPassword", name, pw, err)
			}
		}
	}
}

func TestParsePlainAndLegacyKeys(t *testing.T) {
	t.Parallel()
	o := officers(t, 1)[0]
	p8, _ := x509.MarshalPKCS8PrivateKey(o.Key)
	p1 := x509.MarshalPKCS1PrivateKey(o.Key)
	//lint:ignore SA1019 legacy encryption is what this test needs
	legacy, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", p1, []byte("pw"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		data []byte
		pw   string
	}{
		"pkcs8":  {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), ""},
		"pkcs1":  {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: p1}), ""},
		"legacy": {pem.EncodeToMemory(legacy), "pw"},
		"after a certificate": {append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.Cert.Raw}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})...), ""},
	}
	for name, c := range cases {
		k, err := ParsePrivateKeyPEM(c.data, []byte(c.pw))
		if err != nil || !k.Equal(o.Key) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePrivateKeyPEM(pem.EncodeToMemory(legacy), []byte("nope")); !errors.Is(err, ErrPassword) {
		t.Errorf("legacy wrong password: %v", err)
	}
	if _, err := ParsePrivateKeyPEM([]byte("nothing"), nil); err == nil {
		t.Error("no PEM accepted")
	}
}
