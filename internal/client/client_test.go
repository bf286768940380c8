package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestResourceURL(t *testing.T) {
	p := &Profile{Authority: "https://login.mhsm.localhost:8443"}
	for sub, want := range map[string]string{
		"graph":          "https://graph.mhsm.localhost:8443",
		"dev.managedhsm": "https://dev.managedhsm.mhsm.localhost:8443",
	} {
		if got, err := p.ResourceURL(sub); err != nil || got != want {
			t.Errorf("ResourceURL(%s) = %q, %v", sub, got, err)
		}
	}
	if _, err := (&Profile{Authority: "https://idp.example"}).ResourceURL("graph"); err == nil {
		t.Error("authority without login. accepted")
	}
}

func TestProfileFilesArePrivate(t *testing.T) {
	t.Setenv("MHSM_CONFIG_DIR", filepath.Join(t.TempDir(), "cfg"))
	if _, err := LoadProfile(); err != ErrNotLoggedIn {
		t.Fatalf("no profile: %v", err)
	}
	p := &Profile{Authority: "https://login.x", Kind: KindSecret, Secret: "s3cret"}
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"profile.json", "tokens.json"} {
		fi, err := os.Stat(filepath.Join(os.Getenv("MHSM_CONFIG_DIR"), n))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", n, fi.Mode(), err)
		}
	}
	got, err := LoadProfile()
	if err != nil || got.Secret != "s3cret" {
		t.Fatal(err)
	}
	if err := Logout(); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProfile(); err != ErrNotLoggedIn {
		t.Fatal("profile survives logout")
	}
}

func TestLoadCertificate(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	path := filepath.Join(t.TempDir(), "c.pem")
	b := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})...)
	_ = os.WriteFile(path, b, 0o600)
	if c, key, err := LoadCertificate(path); err != nil || c == nil || key == nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	if _, _, err := LoadCertificate(path); err == nil {
		t.Fatal("certificate without key accepted")
	}
}
