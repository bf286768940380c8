package hsm

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// rotClock is a settable clock.
type rotClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *rotClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *rotClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const rotDay = 24 * time.Hour

// newRotService returns a Service on an in-memory store whose clock the
// test drives, with one activated HSM.
func newRotService(t *testing.T, p CreateParams) (*Service, *HSM, *rotClock) {
	t.Helper()
	ctx := context.Background()
	root := make([]byte, 32)
	if _, err := rand.Read(root); err != nil {
		t.Fatal(err)
	}
	ring, err := barrier.NewKeyring(root)
	if err != nil {
		t.Fatal(err)
	}
	clk := &rotClock{now: time.Date(2030, 1, 15, 12, 0, 0, 0, time.UTC)}
	s, err := NewService(ctx, store.NewMemory(), ring, Options{
		BaseURL: func(name string) string { return "https://" + name + ".managedhsm.mhsm.test" },
		Now:     clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name == "" {
		p.Name = "t1"
	}
	p.TenantID, p.Activated = "00000000-0000-0000-0000-000000000001", true
	h, err := s.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return s, h, clk
}

func rotVersions(t *testing.T, s *Service, h *HSM, name string) int {
	t.Helper()
	p, err := s.ListVersions(context.Background(), h, name, "", 25)
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Items)
}

func rotatePolicy(after, before, expiry string) *wire.KeyRotationPolicy {
	return &wire.KeyRotationPolicy{
		LifetimeActions: []wire.LifetimeAction{{Trigger: wire.LifetimeTrigger{TimeAfterCreate: after, TimeBeforeExpiry: before}, Action: wire.LifetimeType{Type: "Rotate"}}},
		Attributes:      &wire.RotationPolicyAttributes{ExpiryTime: expiry},
	}
}

func TestTickRotatesAfterCreate(t *testing.T) {
	ctx := context.Background()
	s, h, clk := newRotService(t, CreateParams{})
	k, err := s.CreateKey(ctx, h, "k", &wire.KeyCreateParameters{Kty: "EC-HSM", Curve: "P-256", Tags: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRotationPolicy(ctx, h, "k", rotatePolicy("P30D", "", "P90D")); err != nil {
		t.Fatal(err)
	}
	// A key without a policy is never rotated.
	if _, err := s.CreateKey(ctx, h, "nopolicy", &wire.KeyCreateParameters{Kty: "oct-HSM"}); err != nil {
		t.Fatal(err)
	}

	clk.Advance(29 * rotDay)
	s.Tick(ctx)
	if n := rotVersions(t, s, h, "k"); n != 1 {
		t.Fatalf("rotated before 30 days: %d versions", n)
	}
	clk.Advance(2 * rotDay) // day 31
	s.Tick(ctx)
	if n := rotVersions(t, s, h, "k"); n != 2 {
		t.Fatalf("after 31 days: %d versions, want 2", n)
	}
	latest, err := s.GetKey(ctx, h, "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Key.Kid == k.Key.Kid {
		t.Fatal("latest version did not change")
	}
	now := clk.Now()
	if latest.Attributes.Created != now.Unix() {
		t.Errorf("new version created %d, want %d", latest.Attributes.Created, now.Unix())
	}
	if e := latest.Attributes.Expires; e == nil || *e != now.AddDate(0, 0, 90).Unix() {
		t.Errorf("new version expires %v, want %d", e, now.AddDate(0, 0, 90).Unix())
	}
	if latest.Key.Crv != "P-256" || latest.Tags["a"] != "b" || len(latest.Key.KeyOps) != 2 {
		t.Errorf("rotated version: crv %q tags %v ops %v", latest.Key.Crv, latest.Tags, latest.Key.KeyOps)
	}
	// The next rotation counts from the new version's creation.
	s.Tick(ctx)
	clk.Advance(29 * rotDay)
	s.Tick(ctx)
	if n := rotVersions(t, s, h, "k"); n != 2 {
		t.Fatalf("rotated again too early: %d versions", n)
	}
	clk.Advance(1 * rotDay)
	s.Tick(ctx)
	if n := rotVersions(t, s, h, "k"); n != 3 {
		t.Fatalf("second rotation missing: %d versions", n)
	}
	if n := rotVersions(t, s, h, "nopolicy"); n != 1 {
		t.Errorf("key without a policy rotated: %d versions", n)
	}
}

func TestTickRotatesBeforeExpiry(t *testing.T) {
	ctx := context.Background()
	s, h, clk := newRotService(t, CreateParams{})
	exp := clk.Now().Add(60 * rotDay).Unix()
	if _, err := s.CreateKey(ctx, h, "k", &wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: rotPtrInt(128), Attributes: &wire.KeyAttributes{Expires: &exp}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRotationPolicy(ctx, h, "k", rotatePolicy("", "P30D", "P90D")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(29 * rotDay)
	s.Tick(ctx)
	if n := rotVersions(t, s, h, "k"); n != 1 {
		t.Fatalf("rotated 31 days before expiry: %d versions", n)
	}
	clk.Advance(1 * rotDay) // exactly 30 days before expiry
	s.Tick(ctx)
	if n := rotVersions(t, s, h, "k"); n != 2 {
		t.Fatalf("not rotated 30 days before expiry: %d versions", n)
	}
	latest, err := s.GetKey(ctx, h, "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Attributes.Expires == nil || *latest.Attributes.Expires != clk.Now().AddDate(0, 0, 90).Unix() {
		t.Errorf("rotated version expires %v", latest.Attributes.Expires)
	}
	s.Tick(ctx)
	if n := rotVersions(t, s, h, "k"); n != 2 {
		t.Errorf("rotated twice in a row: %d versions", n)
	}
}

func TestTickPurgesDueDeletedKeys(t *testing.T) {
	for _, protected := range []bool{false, true} {
		ctx := context.Background()
		s, h, clk := newRotService(t, CreateParams{SoftDeleteDays: 7, PurgeProtection: protected})
		for _, n := range []string{"old", "young"} {
			if _, err := s.CreateKey(ctx, h, n, &wire.KeyCreateParameters{Kty: "oct-HSM"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.CreateKey(ctx, h, "old", &wire.KeyCreateParameters{Kty: "oct-HSM"}); err != nil {
			t.Fatal(err)
		}
		d, err := s.DeleteKey(ctx, h, "old")
		if err != nil {
			t.Fatal(err)
		}
		if d.ScheduledPurgeDate != clk.Now().Add(7*rotDay).Unix() {
			t.Errorf("scheduled purge %d, want deleted+7d", d.ScheduledPurgeDate)
		}
		clk.Advance(3 * rotDay)
		if _, err := s.DeleteKey(ctx, h, "young"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(4*rotDay - time.Second) // 1s before "old" is due
		s.Tick(ctx)
		if _, err := s.GetDeletedKey(ctx, h, "old"); err != nil {
			t.Fatalf("purged before its scheduled date: %v", err)
		}
		clk.Advance(time.Second)
		s.Tick(ctx)
		if _, err := s.GetDeletedKey(ctx, h, "old"); !rotIsKind(err, KindNotFound) {
			t.Fatalf("protected=%v: deleted key past its purge date still there: %v", protected, err)
		}
		if _, err := s.GetDeletedKey(ctx, h, "young"); err != nil {
			t.Errorf("key not yet due was purged: %v", err)
		}
		// The name is free again, with no left-over versions.
		if _, err := s.CreateKey(ctx, h, "old", &wire.KeyCreateParameters{Kty: "oct-HSM"}); err != nil {
			t.Fatalf("re-create after automatic purge: %v", err)
		}
		if n := rotVersions(t, s, h, "old"); n != 1 {
			t.Errorf("re-created key has %d versions, want 1", n)
		}
		clk.Advance(3 * rotDay)
		s.Tick(ctx)
		if _, err := s.GetDeletedKey(ctx, h, "young"); !rotIsKind(err, KindNotFound) {
			t.Errorf("second deleted key not purged when due: %v", err)
		}
		if _, err := s.GetKey(ctx, h, "old", ""); err != nil {
			t.Errorf("Tick touched a live key: %v", err)
		}
	}
}

func rotIsKind(err error, k Kind) bool {
	e, ok := AsError(err)
	return ok && e.Kind == k
}

func rotPtrInt(v int) *int { return &v }
