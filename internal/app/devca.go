package app

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// devP12Password protects the dev CA trust store. A trust store holds only
// the public CA certificate; the password is there because Java's and
// .NET's loaders expect one, and "changeit" is what Java's default trust
// store uses.
const devP12Password = "changeit"

// devCA completes dev.json: the listen address (so port 0 is usable) and
// the dev CA as a PKCS#12 trust store beside the PEM file (ca.p12).
func (a *App) devCA() error {
	a.Dev.Addr = a.ln.Addr().String()
	if a.CAFile == "" { // the operator supplied the certificate
		return nil
	}
	b, err := os.ReadFile(a.CAFile)
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return errors.New("the CA file holds no PEM certificate")
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	p12, err := pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{ca}, devP12Password)
	if err != nil {
		return err
	}
	path := filepath.Join(filepath.Dir(a.CAFile), "ca.p12")
	if err := writeFileAtomic(path, p12, 0o644); err != nil {
		return err
	}
	a.Dev.CAP12File, a.Dev.CAP12Password = path, devP12Password
	return nil
}
