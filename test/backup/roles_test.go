package backup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// principal makes a service principal holding roles at "/" of the dev HSM
// and returns a client with its data-plane token.
func principal(t *testing.T, s *testserver.Server, roles ...string) *client {
	t.Helper()
	ctx := context.Background()
	dir := s.App.Directory()
	sp, err := dir.CreateServicePrincipal(ctx, s.Dev.TenantID, "bk-"+uuid.NewString()[:8])
	if err != nil {
		t.Fatal(err)
	}
	secret, err := dir.AddSecret(ctx, s.Dev.TenantID, sp.AppID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		grant(t, s, "dev", r, "/", sp.ObjectID)
	}
	tok, err := s.Token(sp.AppID, secret, "managedhsm")
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, s: s, tok: tok}
}

func errCode(t *testing.T, b []byte) string {
	t.Helper()
	var e wire.Error
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an error body: %s", b)
	}
	return e.Error.Code
}

// TestBackupRoles: a Crypto User cannot start a backup; a Backup role
// holder can start one and read its status but cannot restore; a Restore
// role holder restores. Every account without a configured mapping is a
// local directory under the server's storage root.
func TestBackupRoles(t *testing.T) {
	s := testserver.Start(t, nil)
	dev := s.HSMURL("dev")
	uri := "https://localacct.blob.core.windows.net/backups"
	body := sasParams(uri, "sv=2022-11-02&sig=unused-for-local-accounts")

	user := principal(t, s, rbac.RoleCryptoUser)
	user.must(200, "POST", dev+"/keys/k1/create", map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil)
	if st, b := user.call("POST", dev+"/backup", body); st != 403 || errCode(t, b) != "AccessDenied" {
		t.Fatalf("Crypto User POST /backup = %d %s, want 403 AccessDenied", st, b)
	}

	bk := principal(t, s, rbac.RoleBackup)
	rs := principal(t, s, rbac.RoleRestore) // before the backup: a full restore brings back the assignments backed up
	done := bk.job(dev, "POST", "/backup", body)
	if done.Status != wire.JobSucceeded {
		t.Fatalf("backup by the Backup role: %+v %+v", done, done.Error)
	}
	// The default mapping: account localacct is <storage root>/localacct.
	manifest := filepath.Join(s.Config().AuditStorageRoot(), "localacct", "backups", done.FolderName, "manifest.json")
	if _, err := os.Stat(manifest); err != nil {
		t.Fatalf("backup not in the local account directory: %v", err)
	}
	restoreBody := map[string]any{"sasTokenParameters": body, "folderToRestore": done.FolderName}
	for _, r := range []struct{ method, path string }{{"PUT", "/restore"}, {"PUT", "/prerestore"}, {"PUT", "/keys/k1/restore"},
		{"GET", "/restore/" + done.JobID + "/pending"}} {
		if st, b := bk.call(r.method, dev+r.path, restoreBody); st != 403 || errCode(t, b) != "AccessDenied" {
			t.Fatalf("Backup role %s %s = %d %s, want 403", r.method, r.path, st, b)
		}
	}
	if st, b := rs.call("POST", dev+"/backup", body); st != 403 {
		t.Fatalf("Restore role POST /backup = %d %s, want 403", st, b)
	}
	if pre := rs.job(dev, "PUT", "/prerestore", restoreBody); pre.Status != wire.JobSucceeded {
		t.Fatalf("prerestore %+v %+v", pre, pre.Error)
	}
	user.must(200, "POST", dev+"/keys/k2/create", map[string]any{"kty": "EC-HSM", "crv": "P-256"}, nil)
	if r := rs.job(dev, "PUT", "/restore", restoreBody); r.Status != wire.JobSucceeded {
		t.Fatalf("restore by the Restore role: %+v %+v", r, r.Error)
	}
	// The full restore took the HSM back: k2, made after the backup, is gone.
	if st, _ := user.call("GET", dev+"/keys/k2", nil); st != 404 {
		t.Fatalf("k2 after the restore = %d, want 404", st)
	}
	user.must(200, "GET", dev+"/keys/k1", nil, nil)

	// Bad requests: no SAS and no managed identity; a SAS in the URI; no folder.
	admin := &client{t: t, s: s, tok: mustDevToken(t, s)}
	for _, b := range []any{
		map[string]any{"storageResourceUri": uri},
		sasParams(uri+"?sv=1", "x"),
		map[string]any{"token": "x"},
	} {
		if st, out := admin.call("POST", dev+"/backup", b); st != 400 {
			t.Fatalf("POST /backup %v = %d %s, want 400", b, st, out)
		}
	}
	for _, folder := range []string{"", "../etc", "a/b"} {
		if st, out := admin.call("PUT", dev+"/restore", map[string]any{"sasTokenParameters": body, "folderToRestore": folder}); st != 400 {
			t.Fatalf("PUT /restore with folder %q = %d %s", folder, st, out)
		}
	}
	if st, out := admin.call("GET", dev+"/backup/"+strings.Repeat("0", 32)+"/pending", nil); st != 404 {
		t.Fatalf("status of an unknown job = %d %s", st, out)
	}

	// Every call above is in the dev HSM's audit chain, denials included.
	ctx := context.Background()
	srcs, err := audit.FindSources(ctx, audit.DirFiles(s.App.Audit().Dir()), "dev")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, src := range srcs {
		if err := src.Query(ctx, &audit.Filter{}, func(r *audit.Record) error {
			seen[fmt.Sprintf("%s %d", r.Operation, r.Status)] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"FullBackup 202", "FullBackup 403", "FullBackup 400", "FullBackupStatus 200", "FullBackupStatus 404",
		"FullRestore 202", "FullRestore 403", "PreFullRestore 202", "SelectiveKeyRestore 403", "RestoreStatus 200", "RestoreStatus 403"} {
		if !seen[want] {
			t.Errorf("audit chain lacks %q", want)
		}
	}
}

func mustDevToken(t *testing.T, s *testserver.Server) string {
	t.Helper()
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
