package hsm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Tests of the record cache (recordcache.go) through the Service: every
// kind of write is seen by the next read, whatever the cache held.

// countingBackend counts read transactions; with retry, every Update first
// runs fn in an attempt that is rolled back, as optimistic backends may.
type countingBackend struct {
	store.Backend
	views atomic.Int64
	retry bool
}

var errRolledBack = errors.New("attempt rolled back")

func (b *countingBackend) View(ctx context.Context, fn func(store.Tx) error) error {
	b.views.Add(1)
	return b.Backend.View(ctx, fn)
}

func (b *countingBackend) Update(ctx context.Context, fn func(store.Tx) error) error {
	if b.retry {
		err := b.Backend.Update(ctx, func(tx store.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return errRolledBack
		})
		if !errors.Is(err, errRolledBack) {
			return err
		}
	}
	return b.Backend.Update(ctx, fn)
}

// newCacheService returns a Service whose store counts reads, its clock,
// and an activated HSM "c1" (7 soft-delete days, no purge protection).
func newCacheService(t *testing.T, cacheSize int, retry bool) (*Service, *HSM, *rotClock, *countingBackend) {
	t.Helper()
	root := make([]byte, 32)
	if _, err := rand.Read(root); err != nil {
		t.Fatal(err)
	}
	ring, err := barrier.NewKeyring(root)
	if err != nil {
		t.Fatal(err)
	}
	cb := &countingBackend{Backend: store.NewMemory(), retry: retry}
	clk := &rotClock{now: time.Date(2030, 1, 15, 12, 0, 0, 0, time.UTC)}
	s, err := NewService(context.Background(), cb, ring, Options{CacheSize: cacheSize, Now: clk.Now,
		BaseURL: func(n string) string { return "https://" + n + ".managedhsm.mhsm.test" }})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Create(context.Background(), CreateParams{Name: "c1", TenantID: "00000000-0000-0000-0000-000000000001", Activated: true, SoftDeleteDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	return s, h, clk, cb
}

var cacheDigest = sha256.Sum256([]byte("record cache"))

func mustCreateEC(t *testing.T, s *Service, h *HSM, name string, p *wire.KeyCreateParameters) *wire.KeyBundle {
	t.Helper()
	if p == nil {
		p = &wire.KeyCreateParameters{}
	}
	p.Kty, p.Curve = "EC-HSM", "P-256"
	b, err := s.CreateKey(context.Background(), h, name, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustGetKey(t *testing.T, s *Service, h *HSM, name, version string) *wire.KeyBundle {
	t.Helper()
	b, err := s.GetKey(context.Background(), h, name, version)
	if err != nil {
		t.Fatalf("get %s/%s: %v", name, version, err)
	}
	return b
}

func sign(s *Service, h *HSM, name string) (*wire.KeyOperationResult, error) {
	return s.Sign(context.Background(), h, name, "", &wire.KeySignParameters{Alg: "ES256", Value: cacheDigest[:]})
}

// primeEC reads key name (GetKey, Sign, GetRotationPolicy) until both its
// records are cached, and fails the test if they are not.
func primeEC(t *testing.T, s *Service, h *HSM, name string) {
	t.Helper()
	b := mustGetKey(t, s, h, name, "")
	if _, err := sign(s, h, name); err != nil {
		t.Fatalf("sign %s: %v", name, err)
	}
	if _, err := s.GetRotationPolicy(context.Background(), h, name); err != nil {
		t.Fatal(err)
	}
	wantCached(t, s, h, name, lastSeg(b.Key.Kid))
}

func wantCached(t *testing.T, s *Service, h *HSM, name, version string) {
	t.Helper()
	lname := strings.ToLower(name)
	if s.records.get(keyKey(h.Name, lname)) == nil || s.records.get(verKey(h.Name, lname, version)) == nil {
		t.Fatalf("%s/%s: records not cached; the test would prove nothing", name, version)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !rotIsKind(err, KindNotFound) {
		t.Fatalf("%s: %v, want not found", what, err)
	}
}

func TestRecordCacheSeesEveryWrite(t *testing.T) {
	for _, retry := range []bool{false, true} {
		mode := map[bool]string{false: "", true: "retrying-store/"}[retry]
		for _, c := range []struct {
			name string
			run  func(t *testing.T, s *Service, h *HSM, clk *rotClock)
		}{
			{"update-attributes", testCacheUpdateAttributes},
			{"release-policy", testCacheReleasePolicy},
			{"new-version", testCacheNewVersion},
			{"import", testCacheImport},
			{"rotation", testCacheRotation},
			{"delete-recover-purge", testCacheDeleteRecoverPurge},
			{"restore", testCacheRestore},
			{"purge-by-tick", testCachePurgeByTick},
			{"hsm-lifecycle", testCacheHSMLifecycle},
		} {
			t.Run(mode+c.name, func(t *testing.T) {
				s, h, clk, _ := newCacheService(t, 0, retry)
				c.run(t, s, h, clk)
			})
		}
	}
}

func testCacheUpdateAttributes(t *testing.T, s *Service, h *HSM, _ *rotClock) {
	ctx := context.Background()
	mustCreateEC(t, s, h, "Upd", nil)
	primeEC(t, s, h, "upd")
	off, exp := false, int64(2000000000)
	if _, err := s.UpdateKey(ctx, h, "upd", "", &wire.KeyUpdateParameters{KeyOps: []string{"verify"}, Tags: map[string]string{"a": "1"},
		Attributes: &wire.KeyAttributes{Enabled: &off, Expires: &exp}}); err != nil {
		t.Fatal(err)
	}
	b := mustGetKey(t, s, h, "UPD", "")
	if *b.Attributes.Enabled || b.Attributes.Expires == nil || *b.Attributes.Expires != exp || b.Tags["a"] != "1" || len(b.Key.KeyOps) != 1 {
		t.Fatalf("after update: %+v %+v %v", b.Attributes, b.Tags, b.Key.KeyOps)
	}
	if _, err := sign(s, h, "upd"); !rotIsKind(err, KindForbidden) {
		t.Fatalf("sign with a disabled key: %v", err)
	}
	// A second update starts from the stored record, not a stale copy.
	on := true
	if _, err := s.UpdateKey(ctx, h, "upd", "", &wire.KeyUpdateParameters{Attributes: &wire.KeyAttributes{Enabled: &on}}); err != nil {
		t.Fatal(err)
	}
	b = mustGetKey(t, s, h, "upd", "")
	if !*b.Attributes.Enabled || b.Tags["a"] != "1" || len(b.Key.KeyOps) != 1 || *b.Attributes.Expires != exp {
		t.Fatalf("after second update: %+v %+v %v", b.Attributes, b.Tags, b.Key.KeyOps)
	}
	if _, err := sign(s, h, "upd"); !rotIsKind(err, KindBadRequest) {
		t.Fatalf("sign with key_ops [verify]: %v", err)
	}
}

func testCacheReleasePolicy(t *testing.T, s *Service, h *HSM, _ *rotClock) {
	pol := func(claim string) *wire.KeyReleasePolicy {
		return &wire.KeyReleasePolicy{Data: []byte(`{"version":"1.0.0","anyOf":[{"authority":"https://a.example","allOf":[{"claim":"` + claim + `","equals":"y"}]}]}`)}
	}
	yes := true
	mustCreateEC(t, s, h, "rel", &wire.KeyCreateParameters{Attributes: &wire.KeyAttributes{Exportable: &yes}, ReleasePolicy: pol("one")})
	primeEC(t, s, h, "rel")
	if _, err := s.UpdateKey(context.Background(), h, "rel", "", &wire.KeyUpdateParameters{ReleasePolicy: pol("two")}); err != nil {
		t.Fatal(err)
	}
	if b := mustGetKey(t, s, h, "rel", ""); !strings.Contains(string(b.ReleasePolicy.Data), `"two"`) {
		t.Fatalf("release policy after update: %s", b.ReleasePolicy.Data)
	}
}

func testCacheNewVersion(t *testing.T, s *Service, h *HSM, _ *rotClock) {
	old := lastSeg(mustCreateEC(t, s, h, "nv", nil).Key.Kid)
	primeEC(t, s, h, "nv")
	nv := lastSeg(mustCreateEC(t, s, h, "nv", nil).Key.Kid)
	if got := lastSeg(mustGetKey(t, s, h, "nv", "").Key.Kid); got != nv {
		t.Fatalf("latest %s, want the new version %s (old %s)", got, nv, old)
	}
	r, err := sign(s, h, "nv")
	if err != nil || lastSeg(r.Kid) != nv {
		t.Fatalf("sign used %v (%v), want %s", r, err, nv)
	}
	mustGetKey(t, s, h, "nv", old)
}

func testCacheImport(t *testing.T, s *Service, h *HSM, _ *rotClock) {
	ctx := context.Background()
	imp := func(b byte) string {
		k := make([]byte, 32)
		k[0] = b
		out, err := s.ImportKey(ctx, h, "imp", &wire.KeyImportParameters{Key: &keys.JSONWebKey{Kty: "oct-HSM", K: k}})
		if err != nil {
			t.Fatal(err)
		}
		return lastSeg(out.Key.Kid)
	}
	wrap := func() *wire.KeyOperationResult {
		r, err := s.WrapKey(ctx, h, "imp", "", &wire.KeyOperationsParameters{Alg: "A256KW", Value: cacheDigest[:]})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	v1 := imp(1)
	w1 := wrap()
	wantCached(t, s, h, "imp", v1)
	v2 := imp(2)
	w2 := wrap()
	if lastSeg(w2.Kid) != v2 || string(w1.Value) == string(w2.Value) {
		t.Fatalf("wrap after import used %s, want %s with the new material", lastSeg(w2.Kid), v2)
	}
}

func testCacheRotation(t *testing.T, s *Service, h *HSM, clk *rotClock) {
	ctx := context.Background()
	v1 := lastSeg(mustCreateEC(t, s, h, "rot", &wire.KeyCreateParameters{Tags: map[string]string{"t": "x"}}).Key.Kid)
	primeEC(t, s, h, "rot")
	b0, err := s.RotateKey(ctx, h, "rot") // on demand, without a policy
	if err != nil {
		t.Fatalf("rotate without a policy: %v", err)
	}
	if v := lastSeg(mustGetKey(t, s, h, "rot", "").Key.Kid); v != lastSeg(b0.Key.Kid) || v == v1 || b0.Attributes.Expires != nil {
		t.Fatalf("after rotating without a policy: latest %s, rotated %+v", v, b0)
	}
	v1 = lastSeg(b0.Key.Kid)
	primeEC(t, s, h, "rot")
	if _, err := s.SetRotationPolicy(ctx, h, "rot", rotatePolicy("P30D", "", "P90D")); err != nil {
		t.Fatal(err)
	}
	p, err := s.GetRotationPolicy(ctx, h, "rot")
	if err != nil || len(p.LifetimeActions) != 1 || p.Attributes.ExpiryTime != "P90D" {
		t.Fatalf("policy after set: %+v %v", p, err)
	}
	primeEC(t, s, h, "rot")
	b, err := s.RotateKey(ctx, h, "rot")
	if err != nil {
		t.Fatal(err)
	}
	got := mustGetKey(t, s, h, "rot", "")
	if v2 := lastSeg(got.Key.Kid); v2 == v1 || v2 != lastSeg(b.Key.Kid) || got.Tags["t"] != "x" || got.Attributes.Expires == nil {
		t.Fatalf("after rotate: latest %s (was %s), %+v", v2, v1, got)
	}
	// Automatic rotation by Tick, with the records cached.
	primeEC(t, s, h, "rot")
	clk.Advance(31 * rotDay)
	s.Tick(ctx)
	if v3 := lastSeg(mustGetKey(t, s, h, "rot", "").Key.Kid); v3 == lastSeg(b.Key.Kid) {
		t.Fatal("Tick rotated, but GetKey still shows the previous version")
	}
}

func testCacheDeleteRecoverPurge(t *testing.T, s *Service, h *HSM, _ *rotClock) {
	ctx := context.Background()
	mustCreateEC(t, s, h, "drp", nil)
	primeEC(t, s, h, "drp")
	if _, err := s.DeleteKey(ctx, h, "drp"); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetKey(ctx, h, "drp", "")
	wantNotFound(t, "get after delete", err)
	_, err = sign(s, h, "drp")
	wantNotFound(t, "sign after delete", err)
	_, err = s.GetRotationPolicy(ctx, h, "drp")
	wantNotFound(t, "rotation policy after delete", err)
	if _, err := s.GetDeletedKey(ctx, h, "drp"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDeletedKey(ctx, h, "drp"); err != nil { // from the cache
		t.Fatal(err)
	}
	if _, err := s.RecoverKey(ctx, h, "drp"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetDeletedKey(ctx, h, "drp")
	wantNotFound(t, "get deleted after recover", err)
	primeEC(t, s, h, "drp")
	if _, err := s.DeleteKey(ctx, h, "drp"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDeletedKey(ctx, h, "drp"); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeKey(ctx, h, "drp"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetDeletedKey(ctx, h, "drp")
	wantNotFound(t, "get deleted after purge", err)
	_, err = s.GetKey(ctx, h, "drp", "")
	wantNotFound(t, "get after purge", err)
}

func testCacheRestore(t *testing.T, s *Service, h *HSM, _ *rotClock) {
	ctx := context.Background()
	mustCreateEC(t, s, h, "rs", nil)
	latest := lastSeg(mustCreateEC(t, s, h, "rs", &wire.KeyCreateParameters{Tags: map[string]string{"v": "2"}}).Key.Kid)
	blob, err := s.BackupKey(ctx, h, "rs")
	if err != nil {
		t.Fatal(err)
	}
	// Cache a state that differs from the backup's: restore must not
	// bring it back.
	if _, err := s.UpdateKey(ctx, h, "rs", "", &wire.KeyUpdateParameters{Tags: map[string]string{"v": "3"}}); err != nil {
		t.Fatal(err)
	}
	primeEC(t, s, h, "rs")
	dropKey(t, s, h, "rs")
	_, err = sign(s, h, "rs")
	wantNotFound(t, "sign after purge", err)
	if _, err := s.RestoreKey(ctx, h, blob.Value); err != nil {
		t.Fatal(err)
	}
	b := mustGetKey(t, s, h, "rs", "")
	if lastSeg(b.Key.Kid) != latest || b.Tags["v"] != "2" {
		t.Fatalf("after restore: %s %v, want %s", b.Key.Kid, b.Tags, latest)
	}
	if _, err := sign(s, h, "rs"); err != nil {
		t.Fatalf("sign after restore: %v", err)
	}
}

func testCachePurgeByTick(t *testing.T, s *Service, h *HSM, clk *rotClock) {
	ctx := context.Background()
	mustCreateEC(t, s, h, "tick", nil)
	primeEC(t, s, h, "tick")
	if _, err := s.DeleteKey(ctx, h, "tick"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDeletedKey(ctx, h, "tick"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(8 * rotDay)
	s.Tick(ctx)
	_, err := s.GetDeletedKey(ctx, h, "tick")
	wantNotFound(t, "get deleted after Tick purged it", err)
}

func testCacheHSMLifecycle(t *testing.T, s *Service, h *HSM, _ *rotClock) {
	ctx := context.Background()
	old := lastSeg(mustCreateEC(t, s, h, "k", nil).Key.Kid)
	primeEC(t, s, h, "k")
	if _, err := s.SoftDelete(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	h2, err := s.Recover(ctx, h.Name)
	if err != nil {
		t.Fatal(err)
	}
	primeEC(t, s, h2, "k")
	if _, err := s.SoftDelete(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	h3, err := s.Create(ctx, CreateParams{Name: h.Name, TenantID: h.TenantID, Activated: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.GetKey(ctx, h3, "k", "")
	wantNotFound(t, "a key of the purged HSM, in the new HSM of the same name", err)
	_, err = s.GetKey(ctx, h3, "k", old)
	wantNotFound(t, "a version of the purged HSM, in the new HSM of the same name", err)
	nv := lastSeg(mustCreateEC(t, s, h3, "k", nil).Key.Kid)
	if got := lastSeg(mustGetKey(t, s, h3, "k", "").Key.Kid); got != nv {
		t.Fatalf("latest %s, want %s", got, nv)
	}
	if r, err := sign(s, h3, "k"); err != nil || lastSeg(r.Kid) != nv {
		t.Fatalf("sign: %v %v", r, err)
	}
}
