package hsm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Key attestation (GET /keys/{name}[/{version}]/attestation, 7.6): each
// HSM has its own attestation root (a self-signed P-384 CA made on first
// use) and an attestation key certified by it, both sealed by the HSM's
// key hierarchy root. An attestation is the key's public part plus two
// compact JWS statements signed by the attestation key (ES384, x5c = the
// chain): one about the private part (where it is held, whether it can
// leave) and, for asymmetric keys, one carrying the public key. The chain
// is returned PEM-encoded in certificatePemFile; operators pin the root
// (the last certificate). The statements are mhsm's own format, not the
// Marvell/Azure binary blobs: they attest mhsm's software key store.

// AttestationVersion is the statement format's version.
const AttestationVersion = "mhsm-1.0"

// attestationRecord is stored under hsm/<hsm>/attestation.
type attestationRecord struct {
	RootCert   []byte `json:"rootCert"`
	SealedRoot []byte `json:"sealedRoot"` // PKCS#8, sealed with AAD "attestation/root"
	LeafCert   []byte `json:"leafCert"`
	SealedLeaf []byte `json:"sealedLeaf"` // PKCS#8, sealed with AAD "attestation/leaf"
}

func attestationKey(hsm string) string { return "hsm/" + hsm + "/attestation" }

// attestor is an HSM's attestation key and chain (leaf first).
type attestor struct {
	key   *ecdsa.PrivateKey
	chain []*x509.Certificate
}

// attestorOf loads h's attestation key, creating root and key on first use.
func (s *Service) attestorOf(ctx context.Context, h *HSM) (*attestor, error) {
	var rec attestationRecord
	err := s.st.Update(ctx, func(tx store.Tx) error {
		err := getJSON(tx, attestationKey(h.Name), &rec)
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		r, err := h.newAttestationRecord(s.now())
		if err != nil {
			return err
		}
		rec = *r
		return putJSON(tx, attestationKey(h.Name), rec)
	})
	if err != nil {
		return nil, err
	}
	root, err := x509.ParseCertificate(rec.RootCert)
	if err != nil {
		return nil, fmt.Errorf("hsm: attestation root: %w", err)
	}
	leaf, err := x509.ParseCertificate(rec.LeafCert)
	if err != nil {
		return nil, fmt.Errorf("hsm: attestation certificate: %w", err)
	}
	der, err := h.dk.Open(rec.SealedLeaf, []byte("attestation/leaf"))
	if err != nil {
		return nil, fmt.Errorf("hsm: attestation key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("hsm: attestation key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("hsm: attestation key is not ECDSA")
	}
	return &attestor{key: ek, chain: []*x509.Certificate{leaf, root}}, nil
}

// newAttestationRecord makes a root CA and an attestation key for h.
func (h *HSM) newAttestationRecord(now time.Time) (*attestationRecord, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rootTmpl := &x509.Certificate{
		SerialNumber: randSerial(), Subject: pkix.Name{CommonName: "mhsm attestation root " + h.Name, Organization: []string{"mhsm"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(20, 0, 0),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: randSerial(), Subject: pkix.Name{CommonName: "mhsm key attestation " + h.Name, Organization: []string{"mhsm"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	rootPK, err := x509.MarshalPKCS8PrivateKey(rootKey)
	if err != nil {
		return nil, err
	}
	leafPK, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		return nil, err
	}
	rec := &attestationRecord{RootCert: rootDER, SealedRoot: h.dk.Seal(rootPK, []byte("attestation/root")),
		LeafCert: leafDER, SealedLeaf: h.dk.Seal(leafPK, []byte("attestation/leaf"))}
	clear(rootPK)
	clear(leafPK)
	return rec, nil
}

func randSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// sign makes a compact JWS of claims with the attestation key.
func (a *attestor) sign(claims any) ([]byte, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	x5c := make([]string, len(a.chain))
	for i, c := range a.chain {
		x5c[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: a.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5c", x5c))
	if err != nil {
		return nil, err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return nil, err
	}
	c, err := jws.CompactSerialize()
	return []byte(c), err
}

// chainPEM is the chain as one PEM file, attestation key's certificate first.
func (a *attestor) chainPEM() []byte {
	var out []byte
	for _, c := range a.chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyAttestation returns version (latest if "") of key name with its
// attestation in attributes.attestation.
func (s *Service) KeyAttestation(ctx context.Context, h *HSM, name, version string) (*wire.KeyBundle, error) {
	k, v, err := s.readKeyVersion(ctx, h, name, version, false)
	if err != nil {
		return nil, err
	}
	b := h.bundle(k, v)
	a, err := s.attestorOf(ctx, h)
	if err != nil {
		return nil, err
	}
	pub, err := json.Marshal(b.Key)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(pub)
	now := s.now().Unix()
	common := map[string]any{"ver": AttestationVersion, "iss": h.BaseURL, "iat": now, "kid": b.Key.Kid, "kty": b.Key.Kty}
	priv := map[string]any{
		"attests": "private", "exportable": v.Exportable, "key_ops": b.Key.KeyOps, "created": v.Created,
		"storage":           "mhsm key store: sealed by the HSM's key hierarchy root, used only inside the HSM",
		"public_key_sha256": base64.RawURLEncoding.EncodeToString(digest[:]),
	}
	for k, val := range common {
		priv[k] = val
	}
	att := &wire.KeyAttestation{CertificatePEMFile: a.chainPEM(), Version: AttestationVersion}
	if att.PrivateKeyAttestation, err = a.sign(priv); err != nil {
		return nil, err
	}
	if b.Key.N != nil || b.Key.X != nil {
		pubClaims := map[string]any{"attests": "public", "key": json.RawMessage(pub)}
		for k, val := range common {
			pubClaims[k] = val
		}
		if att.PublicKeyAttestation, err = a.sign(pubClaims); err != nil {
			return nil, err
		}
	}
	b.Attributes.Attestation = att
	return b, nil
}
