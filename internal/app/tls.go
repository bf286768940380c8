package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// loadOrCreateTLS returns the server certificate: the given files, or a
// certificate issued by a private CA kept in dataDir (created on first
// start; the leaf is re-issued when its names no longer match the configuration
// or it is within 30 days of expiry). It also returns the CA file path
// ("" when files were given).
func loadOrCreateTLS(dataDir string, names []string, certFile, keyFile string) (tls.Certificate, string, error) {
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		return c, "", err
	}
	dir := filepath.Join(dataDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, "", err
	}
	caCertPath, caKeyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	leafCertPath, leafKeyPath := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	caCert, caKey, err := loadPair(caCertPath, caKeyPath)
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = createCA(caCertPath, caKeyPath)
	}
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls CA: %w", err)
	}
	leaf, _, err := loadPair(leafCertPath, leafKeyPath)
	if err != nil || !slices.Equal(leaf.DNSNames, names) || time.Until(leaf.NotAfter) < 30*24*time.Hour ||
		leaf.CheckSignatureFrom(caCert) != nil {
		if err := issueLeaf(leafCertPath, leafKeyPath, names, caCert, caKey); err != nil {
			return tls.Certificate{}, "", fmt.Errorf("tls server certificate: %w", err)
		}
	}
	c, err := tls.LoadX509KeyPair(leafCertPath, leafKeyPath)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	abs, err := filepath.Abs(caCertPath)
	return c, abs, err
}

func loadPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, nil, errors.New("malformed PEM")
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParseECPrivateKey(kblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, k, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func createCA(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "mhsm private CA", Organization: []string{"mhsm"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(certPath, keyPath, der, k); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, k, err
}

func issueLeaf(certPath, keyPath string, names []string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writePair(certPath, keyPath, der, k)
}

func writePair(certPath, keyPath string, der []byte, k *ecdsa.PrivateKey) error {
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFileAtomic writes data to a temp file, fsyncs it and renames it
// over path, so readers never see a partial file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// tlsConfig serves cert with TLS 1.2 or later.
func tlsConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
}
