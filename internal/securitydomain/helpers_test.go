package securitydomain

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"
)

var (
	officerMu   sync.Mutex
	officerPool []Officer
)

// officers returns n distinct officers (RSA-2048 keys with self-signed
// certificates), generated once per test binary and shared.
func officers(t testing.TB, n int) []Officer {
	t.Helper()
	officerMu.Lock()
	defer officerMu.Unlock()
	for len(officerPool) < n {
		officerPool = append(officerPool, newOfficer(t, 2048, "officer"))
	}
	return append([]Officer(nil), officerPool[:n]...)
}

func newOfficer(t testing.TB, bits int, cn string) Officer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return Officer{Key: k, Cert: selfSigned(t, k, cn)}
}

func selfSigned(t testing.TB, k *rsa.PrivateKey, cn string) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certsOf(os []Officer) []*x509.Certificate {
	out := make([]*x509.Certificate, len(os))
	for i, o := range os {
		out[i] = o.Cert
	}
	return out
}

func fmtSprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
