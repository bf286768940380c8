package hsm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/backup"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// dumpHSM is the HSM's canonical dump (CanonicalDump: every record it
// keeps but job and security-domain state, as stored; key material stays
// sealed by the security-domain root, so equal dumps mean equal material).
func dumpHSM(t *testing.T, s *Service, name string) map[string]string {
	t.Helper()
	d, err := s.CanonicalDump(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// populate fills h with keys (some with several versions, a rotation
// policy and tags), soft-deleted keys, role assignments and a setting.
func populate(t *testing.T, s *Service, h *HSM, nkeys, ndeleted, nassign int) {
	t.Helper()
	ctx := context.Background()
	for i := range nkeys {
		p := &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256", Tags: map[string]string{"i": fmt.Sprint(i)}}
		if i%3 == 1 {
			p = &wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: sdInt(256)}
		}
		if i%50 == 7 {
			p = &wire.KeyCreateParameters{Kty: "RSA-HSM", KeySize: sdInt(2048)}
		}
		name := fmt.Sprintf("k%04d", i)
		for range 1 + i%3 {
			if _, err := s.CreateKey(ctx, h, name, p); err != nil {
				t.Fatal(err)
			}
		}
		if i%10 == 0 {
			if _, err := s.SetRotationPolicy(ctx, h, name, &wire.KeyRotationPolicy{
				LifetimeActions: []wire.LifetimeAction{{Trigger: wire.LifetimeTrigger{TimeAfterCreate: "P90D"}, Action: wire.LifetimeType{Type: "Rotate"}}},
				Attributes:      &wire.RotationPolicyAttributes{ExpiryTime: "P1Y"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range ndeleted {
		name := fmt.Sprintf("gone%03d", i)
		if _, err := s.CreateKey(ctx, h, name, &wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: sdInt(256)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteKey(ctx, h, name); err != nil {
			t.Fatal(err)
		}
	}
	for i := range nassign {
		a := rbac.RoleAssignment{Scope: "/keys", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: fmt.Sprintf("00000000-0000-0000-0001-%012d", i)}
		if _, err := s.Assign(ctx, h, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateSetting(ctx, h, "AllowKeyManagementOperationsThroughARM", "true"); err != nil {
		t.Fatal(err)
	}
}

// TestFullBackupRestoreService: a backup restores the HSM exactly, a
// selective restore brings back one key and nothing else, and every
// damaged or foreign archive is refused with the HSM unchanged.
func TestFullBackupRestoreService(t *testing.T) {
	ctx := context.Background()
	s, h := newTestService(t, Options{})
	populate(t, s, h, 30, 5, 10)
	before := dumpHSM(t, s, h.Name)
	dir := backup.Dir(t.TempDir())
	m, err := s.WriteBackup(ctx, h, dir.Folder("b1"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts[kindKey] != 30 || m.Counts[kindDeletedKey] != 5 || m.Counts[kindVersion] != 30+30+5 ||
		m.Counts[kindRoleAssignment] != 10 || m.Counts[kindSetting] != 1 {
		t.Fatalf("manifest counts %v", m.Counts)
	}

	// Nothing readable in the folder: no key name, principal or setting.
	files, _ := os.ReadDir(filepath.Join(string(dir), "b1"))
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(string(dir), "b1", f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"k0002", "00000000-0000-0000-0001-000000000003", "AllowKeyManagementOperationsThroughARM", `"kty"`} {
			if strings.Contains(string(b), secret) {
				t.Fatalf("%s holds %q in the clear", f.Name(), secret)
			}
		}
	}

	// Change the HSM, then restore: exactly the backed-up state again.
	if _, err := s.CreateKey(ctx, h, "k0000", &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, h, "new", &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeKey(ctx, h, "gone000"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RestoreBackup(ctx, h, dir.Folder("b1"), "j1"); err != nil {
		t.Fatal(err)
	}
	if d := dumpDiff(before, dumpHSM(t, s, h.Name)); d != "" {
		t.Fatalf("restored HSM differs (-before +after):\n%s", d)
	}
	if _, err := s.GetKey(ctx, h, "new", ""); err == nil {
		t.Fatal("a key made after the backup survived the full restore")
	}

	// Selective restore: one key with all its versions, nothing else.
	if _, err := s.DeleteKey(ctx, h, "k0002"); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeKey(ctx, h, "k0002"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, h, "other", &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256"}); err != nil {
		t.Fatal(err)
	}
	want := dumpHSM(t, s, h.Name)
	n, err := s.RestoreBackupKey(ctx, h, dir.Folder("b1"), "k0002")
	if err != nil || n != 3 {
		t.Fatalf("selective restore: %d versions, %v", n, err)
	}
	for k, v := range before {
		if strings.HasPrefix(k, "key/k0002") || strings.HasPrefix(k, "ver/k0002/") {
			want[k] = v
		}
	}
	want["meta/keycount"] = fmt.Sprint(mustAtoi(t, want["meta/keycount"]) + 1)
	if d := dumpDiff(want, dumpHSM(t, s, h.Name)); d != "" {
		t.Fatalf("selective restore changed more than the key (-want +got):\n%s", d)
	}
	if _, err := s.RestoreBackupKey(ctx, h, dir.Folder("b1"), "nosuchkey"); err == nil {
		t.Fatal("selective restore of a key the backup lacks succeeded")
	}

	t.Run("refused", func(t *testing.T) { testRefusedBackups(t, s, h, string(dir)) })
}

// dumpDiff lists the keys whose values differ between two dumps ("" when equal).
func dumpDiff(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "- "+k)
		} else if w != v {
			d = append(d, "~ "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "+ "+k)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// copyFolder copies backup folder src to dst inside dir, then lets mod
// damage it.
func copyFolder(t *testing.T, dir, src, dst string, mod func(folder string)) {
	t.Helper()
	if err := os.CopyFS(filepath.Join(dir, dst), os.DirFS(filepath.Join(dir, src))); err != nil {
		t.Fatal(err)
	}
	mod(filepath.Join(dir, dst))
}

func testRefusedBackups(t *testing.T, s *Service, h *HSM, dir string) {
	ctx := context.Background()
	// A backup with several parts, so reordering and dropping parts can be tried.
	bigDir := backup.Dir(dir)
	if _, err := s.CreateKey(ctx, h, "big", &wire.KeyCreateParameters{Kty: "RSA-HSM", KeySize: sdInt(2048)}); err != nil {
		t.Fatal(err)
	}
	backupPartBytes = 4 << 10
	m, err := s.WriteBackup(ctx, h, bigDir.Folder("b2"))
	backupPartBytes = 0
	if err != nil {
		t.Fatal(err)
	}
	// Another security domain: an HSM of another server (its own root).
	other, oh := newTestService(t, Options{})
	if _, err := other.CreateKey(ctx, oh, "x", &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256"}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteBackup(ctx, oh, bigDir.Folder("foreign")); err != nil {
		t.Fatal(err)
	}
	flip := func(name string, bit int) func(string) {
		return func(f string) {
			p := filepath.Join(f, name)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[bit/8%len(b)] ^= 1 << (bit % 8)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	truncate := func(name string) func(string) {
		return func(f string) {
			p := filepath.Join(f, name)
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := map[string]struct {
		src  string
		mod  func(string)
		want error
	}{
		"other domain":         {"foreign", func(string) {}, backup.ErrForeign},
		"bit flipped in part":  {"b2", flip("part-000000", 8*100+3), backup.ErrCorrupt},
		"bit flipped in last":  {"b2", flip(fmt.Sprintf("part-%06d", len(m.Parts)-1), 8*40), backup.ErrCorrupt},
		"bit flipped manifest": {"b2", flip(backup.ManifestName, 8*200), nil},
		"truncated part":       {"b2", truncate("part-000000"), backup.ErrCorrupt},
		"truncated manifest":   {"b2", truncate(backup.ManifestName), backup.ErrCorrupt},
		"missing part": {"b2", func(f string) {
			_ = os.Remove(filepath.Join(f, fmt.Sprintf("part-%06d", len(m.Parts)-1)))
		}, backup.ErrCorrupt},
		"no manifest": {"b2", func(f string) { _ = os.Remove(filepath.Join(f, backup.ManifestName)) }, backup.ErrNoBackup},
		"parts reordered": {"b2", func(f string) {
			a, b := filepath.Join(f, "part-000000"), filepath.Join(f, "part-000001")
			_ = os.Rename(a, a+".tmp")
			_ = os.Rename(b, a)
			_ = os.Rename(a+".tmp", b)
		}, backup.ErrCorrupt},
	}
	if len(m.Parts) < 2 {
		t.Fatalf("want a backup of several parts to reorder, got %d", len(m.Parts))
	}
	before := dumpHSM(t, s, h.Name)
	i := 0
	for name, c := range cases {
		i++
		folder := fmt.Sprintf("bad%d", i)
		copyFolder(t, dir, c.src, folder, c.mod)
		_, errFull := s.RestoreBackup(ctx, h, bigDir.Folder(folder), "jbad")
		_, errKey := s.RestoreBackupKey(ctx, h, bigDir.Folder(folder), "big")
		for _, err := range []error{errFull, errKey} {
			if err == nil {
				t.Fatalf("%s: restore accepted", name)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("%s: err %v, want %v", name, err, c.want)
			}
			if c.want == nil && !errors.Is(err, backup.ErrForeign) && !errors.Is(err, backup.ErrCorrupt) {
				t.Fatalf("%s: err %v", name, err)
			}
		}
		if d := dumpDiff(before, dumpHSM(t, s, h.Name)); d != "" {
			t.Fatalf("%s: the refused restore changed the HSM:\n%s", name, d)
		}
	}
	// Nothing staged was left behind.
	_ = s.st.View(ctx, func(tx store.Tx) error {
		kvs, _ := tx.List("backupstage/", "", 0)
		if len(kvs) != 0 {
			t.Errorf("%d staged records left behind", len(kvs))
		}
		return nil
	})
}

// blockingStorage is backup storage whose writes wait for release.
type blockingStorage struct{ release chan struct{} }

func (b blockingStorage) Open(string, backup.Credential) (backup.Container, error) { return b, nil }
func (b blockingStorage) Folder(string) backup.Folder                              { return b }
func (b blockingStorage) String() string                                           { return "blocking" }
func (b blockingStorage) Put(ctx context.Context, _ string, _ []byte) error {
	<-b.release
	return nil
}
func (b blockingStorage) Get(context.Context, string, int) ([]byte, error) {
	return nil, backup.ErrNotFound
}

// TestBackupJobs: one job at a time per HSM (409), statuses kept after
// completion, request validation.
func TestBackupJobs(t *testing.T) {
	ctx := context.Background()
	bs := blockingStorage{release: make(chan struct{})}
	s, h := newTestService(t, Options{BackupStorage: bs})
	p := &wire.SASTokenParameter{StorageResourceURI: "https://acct.blob.core.windows.net/c", Token: "sv=x"}
	for _, bad := range []*wire.SASTokenParameter{nil, {StorageResourceURI: "https://a.blob.core.windows.net/c"}, {Token: "x"}} {
		if _, err := s.StartBackup(ctx, h, bad); err == nil {
			t.Fatalf("bad parameters %+v accepted", bad)
		} else {
			wantCode(t, err, "BadParameter")
		}
	}
	first, err := s.StartBackup(ctx, h, p)
	if err != nil || first.Status != wire.JobInProgress || len(first.JobID) != 32 {
		t.Fatalf("start: %+v %v", first, err)
	}
	if _, err := s.StartRestore(ctx, h, p, "mhsm-h-x", false); err == nil {
		t.Fatal("a restore started while a backup runs")
	} else {
		wantCode(t, err, "Conflict")
	}
	close(bs.release)
	var st *wire.BackupOperation
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err = s.JobStatus(ctx, h, "backup", first.JobID); err != nil {
			t.Fatal(err)
		}
		if st.Status != wire.JobInProgress {
			break
		}
	}
	if st.Status != wire.JobSucceeded || st.EndTime == nil || st.AzureStorageBlobContainerURI == nil ||
		!strings.HasPrefix(*st.AzureStorageBlobContainerURI, "https://acct.blob.core.windows.net/c/mhsm-h-") {
		t.Fatalf("final status %+v", st)
	}
	if _, err := s.JobStatus(ctx, h, "restore", first.JobID); err == nil {
		t.Fatal("a backup job answered as a restore job")
	}
	// A failed job keeps its error: restoring a folder with no backup.
	j, err := s.StartRestore(ctx, h, p, "mhsm-h-none", false)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, _ = s.JobStatus(ctx, h, "restore", j.JobID); st.Status != wire.JobInProgress {
			break
		}
	}
	if st.Status != wire.JobFailed || st.Error == nil || st.Error.Code != "InvalidBackup" || !strings.Contains(st.Error.Message, "no backup") {
		t.Fatalf("restore of nothing: %+v %+v", st, st.Error)
	}
}

// TestJobsAfterRestart: a job cut short by a restart reads Failed on the
// new Service, and a staging area left behind is gone.
func TestJobsAfterRestart(t *testing.T) {
	ctx := context.Background()
	bs := blockingStorage{release: make(chan struct{})}
	s, h := newTestService(t, Options{BackupStorage: bs})
	p := &wire.SASTokenParameter{StorageResourceURI: "https://acct.blob.core.windows.net/c", Token: "sv=x"}
	st, err := s.StartBackup(ctx, h, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.Put(stagePrefix(h.Name, "old")+"key/x", []byte("{}")) }); err != nil {
		t.Fatal(err)
	}
	// The "restart": a new Service on the same store while the job is stuck.
	s2, err := NewService(ctx, s.st.(invalidatingStore).Backend, s.ring, Options{BaseURL: s.baseURL})
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := s2.Get(h.Name)
	got, err := s2.JobStatus(ctx, h2, "backup", st.JobID)
	if err != nil || got.Status != wire.JobFailed || got.Error == nil || got.Error.Code != "Interrupted" {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	_ = s2.st.View(ctx, func(tx store.Tx) error {
		if kvs, _ := tx.List("backupstage/", "", 0); len(kvs) != 0 {
			t.Errorf("staging left after restart: %d records", len(kvs))
		}
		return nil
	})
	close(bs.release)
}
