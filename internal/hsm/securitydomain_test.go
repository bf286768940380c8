package hsm

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/securitydomain"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

func sdOfficers(t *testing.T, n int) ([]securitydomain.Officer, *wire.CertificateInfo) {
	t.Helper()
	ci := &wire.CertificateInfo{}
	var os []securitydomain.Officer
	for i := range n {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "officer"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		c, _ := x509.ParseCertificate(der)
		os = append(os, securitydomain.Officer{Key: k, Cert: c})
		j, _ := securitydomain.WrappingKeyJWK(c)
		ci.Certificates = append(ci.Certificates, j)
	}
	return os, ci
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	he, ok := AsError(err)
	if !ok || he.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

// TestSecurityDomainService covers the state machine below HTTP, and that
// a recovered root survives a restart (a new Service on the same store).
func TestSecurityDomainService(t *testing.T) {
	ctx := context.Background()
	root := make([]byte, 32)
	_, _ = rand.Read(root)
	ring, _ := barrier.NewKeyring(root)
	st := store.NewMemory()
	opts := Options{BaseURL: func(n string) string { return "https://" + n + ".managedhsm.mhsm.test" }}
	s, err := NewService(ctx, st, ring, opts)
	if err != nil {
		t.Fatal(err)
	}
	tid := "00000000-0000-0000-0000-000000000001"
	orig, err := s.Create(ctx, CreateParams{Name: "orig", TenantID: tid})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, CreateParams{Name: "bad", TenantID: tid, Recovery: true, Activated: true}); err == nil {
		t.Fatal("Recovery and Activated together accepted")
	}
	officers, ci := sdOfficers(t, 3)
	sdObj, err := s.DownloadSecurityDomain(ctx, orig, ci)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ = s.Get("orig")
	if !orig.Activated {
		t.Fatal("not activated after download")
	}
	if _, err := s.TransferKey(ctx, orig); err == nil {
		t.Fatal("activated HSM handed out a transfer key")
	}
	if _, err := s.CreateKey(ctx, orig, "k", &wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: sdInt(256)}); err != nil {
		t.Fatal(err)
	}
	backup, err := s.BackupKey(ctx, orig, "k")
	if err != nil {
		t.Fatal(err)
	}

	rec, err := s.Create(ctx, CreateParams{Name: "rec", TenantID: tid, Recovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DownloadSecurityDomain(ctx, rec, ci); err == nil {
		t.Fatal("recovery HSM allowed a download")
	} else {
		wantCode(t, err, "SecurityDomainRecoveryPending")
	}
	if _, err := s.UploadSecurityDomain(ctx, rec, "{}"); err == nil {
		t.Fatal("upload without a transfer key")
	} else {
		wantCode(t, err, "TransferKeyNotFound")
	}
	tk, err := s.TransferKey(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(tk.TransferKey)
	exchange, err := securitydomain.ParseTransferKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := securitydomain.MakeRestoreBlob([]byte(sdObj.Value), officers[1:], exchange)
	if err != nil {
		t.Fatal(err)
	}
	// Keys sealed under the HSM's own root must not outlive it: an HSM that
	// holds keys is not recovered.
	if _, err := s.CreateKey(ctx, rec, "stray", &wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: sdInt(256)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadSecurityDomain(ctx, rec, string(blob)); err == nil {
		t.Fatal("recovered an HSM holding keys")
	} else {
		wantCode(t, err, "HSMNotEmpty")
	}
	if _, err := s.DeleteKey(ctx, rec, "stray"); err != nil {
		t.Fatal(err)
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error {
		kvs, _ := tx.List("hsm/rec/", "", 0)
		for _, kv := range kvs {
			if kv.Key != sdKey("rec", "transfer") {
				_ = tx.Delete(kv.Key)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stRes, err := s.UploadSecurityDomain(ctx, rec, string(blob))
	if err != nil || stRes.Status != "Success" {
		t.Fatalf("upload: %+v %v", stRes, err)
	}
	rec, _ = s.Get("rec")
	if !rec.Activated || rec.Recovery {
		t.Fatalf("after upload: activated %v recovery %v", rec.Activated, rec.Recovery)
	}
	if _, err := s.UploadSecurityDomain(ctx, rec, string(blob)); err == nil {
		t.Fatal("second upload accepted")
	}

	// Restart: the recovered root is what the store holds now.
	s2, err := NewService(ctx, st, ring, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec2, ok := s2.Get("rec")
	if !ok || !rec2.Activated {
		t.Fatal("recovered HSM lost on restart")
	}
	if _, err := s2.RestoreKey(ctx, rec2, backup.Value); err != nil {
		t.Fatalf("restore after restart: %v", err)
	}
	for _, op := range []string{"download", "upload"} {
		if got, err := s2.SecurityDomainStatus(ctx, rec2, op); err != nil || got.Status != "Success" {
			t.Fatalf("%s status after restart: %+v %v", op, got, err)
		}
	}
}

func sdInt(v int) *int { return &v }
