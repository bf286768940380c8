package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/go-jose/go-jose/v4"
)

// TestKeyAttestation: azkeys GetKeyAttestation (api-version 2025-07-01)
// returns the key's public part with an attestation whose certificate
// chain verifies to its last certificate (the HSM's attestation root) and
// whose statements verify with the first and name the key version; an RSA
// key's public statement carries its modulus, an AES key has none.
func TestKeyAttestation(t *testing.T) {
	t.Parallel()
	_, c := shared(t)
	ctx := ctxT(t)
	rsaName, aesName := name("att-rsa"), name("att-aes")
	k := createKey(t, ctx, c, rsaName, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSAHSM), KeySize: ptr(int32(2048))})
	createKey(t, ctx, c, aesName, azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeOctHSM), KeySize: ptr(int32(256))})

	a, err := c.GetKeyAttestation(ctx, rsaName, k.Key.KID.Version(), nil)
	must(t, err, "GetKeyAttestation")
	if *a.Key.KID != *k.Key.KID || !bytes.Equal(a.Key.N, k.Key.N) {
		t.Fatalf("attested key %s, want %s", *a.Key.KID, *k.Key.KID)
	}
	at := a.Attributes.Attestation
	if at == nil || at.Version == nil || len(at.PublicKeyAttestation) == 0 || len(at.PrivateKeyAttestation) == 0 {
		t.Fatalf("attestation %+v", at)
	}
	var chain []*x509.Certificate
	for rest := at.CertificatePEMFile; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		must(t, err, "parse certificate")
		chain = append(chain, cert)
	}
	if len(chain) != 2 || !chain[1].IsCA {
		t.Fatalf("chain of %d certificates, want the attestation key's and a CA root", len(chain))
	}
	roots := x509.NewCertPool()
	roots.AddCert(chain[1])
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("chain does not verify to its root: %v", err)
	}
	claims := func(raw []byte) map[string]any {
		t.Helper()
		jws, err := jose.ParseSigned(string(raw), []jose.SignatureAlgorithm{jose.ES384})
		must(t, err, "parse statement")
		p, err := jws.Verify(chain[0].PublicKey)
		must(t, err, "statement signature")
		var m map[string]any
		must(t, json.Unmarshal(p, &m), "statement claims")
		return m
	}
	pub, priv := claims(at.PublicKeyAttestation), claims(at.PrivateKeyAttestation)
	if pub["kid"] != string(*k.Key.KID) || priv["kid"] != string(*k.Key.KID) || priv["exportable"] != false {
		t.Fatalf("statements: %v / %v", pub, priv)
	}
	if key, _ := pub["key"].(map[string]any); key == nil || key["n"] == nil {
		t.Fatalf("public statement has no modulus: %v", pub)
	}

	o, err := c.GetKeyAttestation(ctx, aesName, "", nil)
	must(t, err, "GetKeyAttestation (AES, latest)")
	if o.Attributes.Attestation == nil || len(o.Attributes.Attestation.PrivateKeyAttestation) == 0 || len(o.Attributes.Attestation.PublicKeyAttestation) != 0 {
		t.Fatalf("AES attestation %+v", o.Attributes.Attestation)
	}
	_, err = c.GetKeyAttestation(ctx, name("att-none"), "", nil)
	wantStatus(t, err, 404)
}
