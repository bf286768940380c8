package rbac_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/securitydomain"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// officerCerts returns a download request for three fresh officers,
// quorum 2.
func officerCerts(t *testing.T) wire.CertificateInfo {
	t.Helper()
	required := 2
	ci := wire.CertificateInfo{Required: &required}
	for i := range 3 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "officer"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		j, err := securitydomain.WrappingKeyJWK(c)
		if err != nil {
			t.Fatal(err)
		}
		ci.Certificates = append(ci.Certificates, j)
	}
	return ci
}

func errCode(b []byte) string {
	var e wire.Error
	_ = json.Unmarshal(b, &e)
	return e.Error.Code
}

// audited reports whether the dev HSM's audit chain holds a record of
// operation with status and the error code code.
func audited(t *testing.T, s *testserver.Server, operation string, status int, code string) bool {
	t.Helper()
	ctx := context.Background()
	srcs, err := audit.FindSources(ctx, audit.DirFiles(s.App.Audit().Dir()), "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, src := range srcs {
		if src.Name != "dev" {
			continue
		}
		if err := src.Query(ctx, &audit.Filter{}, func(r *audit.Record) error {
			if r.Operation == operation && r.Status == status && strings.Contains(string(r.Raw), code) {
				found = true
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return found
}

// TestSecurityDomainAfterActivation is finding 14.5: a Policy Administrator
// cannot put security domain actions in a custom role, and nobody — the
// Administrator included — downloads the security domain of an activated
// HSM again unless the server allows it
// (config.Server.AllowSecurityDomainRedownload). Both refusals are audited.
func TestSecurityDomainAfterActivation(t *testing.T) {
	s := testserver.Start(t, nil)
	base := s.HSMURL("dev")
	_, tok := spWithRole(t, s, rbac.RolePolicyAdmin, "/")
	for _, a := range []rbac.Action{rbac.SDDownload, rbac.SDUpload, rbac.SDTransferKeyRead, rbac.SDDownloadRead, rbac.SDUploadRead} {
		st, b := putCustomRole(t, s, tok, "", uuid.NewString(), "sd-"+uuid.NewString()[:6], rbac.KeysRead, a)
		if st != http.StatusBadRequest || errCode(b) != "SecurityDomainActionNotAllowed" {
			t.Errorf("custom role with %s: %d %s, want 400 SecurityDomainActionNotAllowed", a, st, b)
		}
	}
	if !audited(t, s, "RoleDefinitionCreate", http.StatusBadRequest, "SecurityDomainActionNotAllowed") {
		t.Error("the refused custom role is not in the audit log")
	}
	devTok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	st, b, err := s.Call(devTok, "POST", base+"/securitydomain/download?api-version=7.6", officerCerts(t))
	if err != nil {
		t.Fatal(err)
	}
	if st != http.StatusConflict || errCode(b) != "SecurityDomainAlreadyDownloaded" {
		t.Errorf("second download on an activated HSM: %d %s, want 409 SecurityDomainAlreadyDownloaded", st, b)
	}
	if !audited(t, s, "SecurityDomainDownload", http.StatusConflict, "SecurityDomainAlreadyDownloaded") {
		t.Error("the refused download is not in the audit log")
	}
}

// TestSecurityDomainRedownloadAllowed: with the server setting on, the
// Administrator may download the security domain of an activated HSM again.
func TestSecurityDomainRedownloadAllowed(t *testing.T) {
	s := testserver.Start(t, func(c *config.Server) { c.AllowSecurityDomainRedownload = true })
	devTok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	st, b, err := s.Call(devTok, "POST", s.HSMURL("dev")+"/securitydomain/download?api-version=7.6", officerCerts(t))
	if err != nil || st != http.StatusAccepted {
		t.Fatalf("download with AllowSecurityDomainRedownload: %d %s %v", st, b, err)
	}
}
