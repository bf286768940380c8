package compat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/go-jose/go-jose/v4"
)

// goEnvCredential is azidentity's EnvironmentCredential inside the test
// process with default options except the CA pool (the process's system
// pool was loaded before SSL_CERT_FILE could be set).
func goClient(t *testing.T) *azkeys.Client {
	t.Helper()
	s := server(t)
	co := defaultClientOptions(s)
	cred, err := azidentity.NewClientSecretCredential(s.Dev.TenantID, s.Dev.ClientID, s.Dev.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azkeys.NewClient("https://dev.managedhsm.azure.net/", cred, &azkeys.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoDefaultAzureCredential runs testdata/defaultcred, an unmodified
// program using DefaultAzureCredential(nil) and
// azkeys.NewClient("https://dev.managedhsm.azure.net/", cred, nil), with
// only the environment set: it signs and verifies.
func TestGoDefaultAzureCredential(t *testing.T) {
	s := server(t)
	rec.setFamily(t, "go")
	runDefaultCred(t, clientEnv(s))
	clientsRun.Store("go", true)
}

// runDefaultCred builds and runs testdata/defaultcred with env and args.
func runDefaultCred(t *testing.T, env []string, args ...string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "defaultcred")
	build := exec.Command("go", "build", "-o", bin, "./testdata/defaultcred")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Fatalf("defaultcred: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
	}
}

// TestGoKeyAttestation gets a key's attestation with azkeys
// GetKeyAttestation (2025-07-01) and checks it against the HSM's
// attestation root: the chain verifies to its last certificate, both
// statements verify with the first, and they name this key version and
// carry its public key.
func TestGoKeyAttestation(t *testing.T) {
	c := goClient(t)
	rec.setFamily(t, "go")
	ctx := context.Background()
	kty, crv := azkeys.KeyTypeECHSM, azkeys.CurveNameP384
	k, err := c.CreateKey(ctx, "attested", azkeys.CreateKeyParameters{Kty: &kty, Curve: &crv}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"", k.Key.KID.Version()} {
		a, err := c.GetKeyAttestation(ctx, "attested", version, nil)
		if err != nil {
			t.Fatalf("GetKeyAttestation(%q): %v", version, err)
		}
		if a.Key == nil || a.Key.KID == nil || *a.Key.KID != *k.Key.KID || !bytes.Equal(a.Key.X, k.Key.X) {
			t.Fatalf("attested key %+v, want %s", a.Key, *k.Key.KID)
		}
		at := a.Attributes.Attestation
		if at == nil || len(at.CertificatePEMFile) == 0 || len(at.PrivateKeyAttestation) == 0 || len(at.PublicKeyAttestation) == 0 || at.Version == nil {
			t.Fatalf("attestation %+v", at)
		}
		chain := parseChain(t, at.CertificatePEMFile)
		root := chain[len(chain)-1]
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(root)
		for _, ic := range chain[1 : len(chain)-1] {
			inter.AddCert(ic)
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("attestation chain does not verify to its root: %v", err)
		}
		priv := verifyStatement(t, at.PrivateKeyAttestation, chain[0])
		pub := verifyStatement(t, at.PublicKeyAttestation, chain[0])
		for _, st := range []string{priv, pub} {
			if !strings.Contains(st, `"kid":"`+string(*k.Key.KID)+`"`) {
				t.Fatalf("statement does not name the key version: %s", st)
			}
		}
		if !strings.Contains(pub, `"x":"`) || !strings.Contains(priv, `"exportable":false`) {
			t.Fatalf("statements: %s / %s", pub, priv)
		}
	}
	// The root is the HSM's own and stays the same (operators pin it).
	a1, _ := c.GetKeyAttestation(ctx, "attested", "", nil)
	a2, _ := c.GetKeyAttestation(ctx, "attested", "", nil)
	r1, r2 := parseChain(t, a1.Attributes.Attestation.CertificatePEMFile), parseChain(t, a2.Attributes.Attestation.CertificatePEMFile)
	if sha256.Sum256(r1[len(r1)-1].Raw) != sha256.Sum256(r2[len(r2)-1].Raw) {
		t.Fatal("the attestation root changed between calls")
	}
}

func parseChain(t *testing.T, pemFile []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for rest := pemFile; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) < 2 {
		t.Fatalf("chain has %d certificates, want the attestation key's and the root", len(out))
	}
	return out
}

func verifyStatement(t *testing.T, raw []byte, signer *x509.Certificate) string {
	t.Helper()
	jws, err := jose.ParseSigned(string(raw), []jose.SignatureAlgorithm{jose.ES384})
	if err != nil {
		t.Fatalf("statement is not a JWS: %v", err)
	}
	payload, err := jws.Verify(signer.PublicKey)
	if err != nil {
		t.Fatalf("statement signature: %v", err)
	}
	return string(payload)
}
