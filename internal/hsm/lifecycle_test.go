package hsm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newLifecycleService(t *testing.T) (*Service, *clock, store.Backend, *barrier.Keyring) {
	t.Helper()
	ring, err := barrier.NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := NewService(context.Background(), st, ring, Options{BaseURL: func(n string) string { return "https://" + n }, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, st, ring
}

func TestSoftDeleteRecoverPurge(t *testing.T) {
	ctx := context.Background()
	s, c, st, ring := newLifecycleService(t)
	const admin = "11111111-1111-1111-1111-111111111111"
	h, err := s.Create(ctx, CreateParams{Name: "Alpha", TenantID: "t", Admins: []string{admin}, SoftDeleteDays: 7, Activated: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, h, "k1", &wire.KeyCreateParameters{Kty: "oct-HSM", KeySize: ptr(256)}); err != nil {
		t.Fatal(err)
	}
	d, err := s.SoftDelete(ctx, "ALPHA")
	if err != nil {
		t.Fatal(err)
	}
	if want := c.t.Add(7 * 24 * time.Hour); !d.ScheduledPurgeDate.Equal(want) {
		t.Errorf("scheduled purge %v, want %v", d.ScheduledPurgeDate, want)
	}
	if _, ok := s.Get("alpha"); ok {
		t.Fatal("deleted HSM still served")
	}
	if _, err := s.Create(ctx, CreateParams{Name: "alpha", TenantID: "t"}); !errors.Is(err, ErrDeleted) {
		t.Fatalf("reusing a soft-deleted name: %v, want ErrDeleted", err)
	}
	// A restart does not bring it back.
	s2, err := NewService(ctx, st, ring, Options{BaseURL: func(n string) string { return n }, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.Get("alpha"); ok {
		t.Fatal("deleted HSM loaded after restart")
	}
	if ds, _ := s2.ListDeleted(ctx); len(ds) != 1 || ds[0].Name != "alpha" {
		t.Fatalf("ListDeleted = %+v", ds)
	}
	// Recover: keys and administrators come back.
	h, err = s.Recover(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKey(ctx, h, "k1", ""); err != nil {
		t.Fatalf("key lost across delete/recover: %v", err)
	}
	if as, _ := s.Assignments(ctx, h); len(as) != 1 || as[0].PrincipalID != admin {
		t.Fatalf("assignments after recover: %+v", as)
	}
	// Delete and purge: the name is free and nothing of the old HSM remains.
	if _, err := s.SoftDelete(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deleted(ctx, "alpha"); err == nil {
		t.Fatal("purged HSM still listed as deleted")
	}
	h, err = s.Create(ctx, CreateParams{Name: "alpha", TenantID: "t"})
	if err != nil {
		t.Fatalf("name not reusable after purge: %v", err)
	}
	if _, err := s.GetKey(ctx, h, "k1", ""); err == nil {
		t.Fatal("a new HSM inherited a key of the purged one")
	}
	if as, _ := s.Assignments(ctx, h); len(as) != 0 {
		t.Fatalf("a new HSM inherited assignments: %+v", as)
	}
}

func TestPurgeProtection(t *testing.T) {
	ctx := context.Background()
	s, c, _, _ := newLifecycleService(t)
	if _, err := s.Create(ctx, CreateParams{Name: "locked", TenantID: "t", SoftDeleteDays: 7, PurgeProtection: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SoftDelete(ctx, "locked"); err != nil {
		t.Fatal(err)
	}
	err := s.Purge(ctx, "locked")
	if e, ok := AsError(err); !ok || e.Kind != KindConflict {
		t.Fatalf("purge with purge protection: %v, want a conflict", err)
	}
	c.t = c.t.Add(7*24*time.Hour + time.Second)
	s.Tick(ctx)
	if _, err := s.Deleted(ctx, "locked"); err == nil {
		t.Fatal("Tick did not purge an HSM past its retention period")
	}
}

func TestDeleteUnknown(t *testing.T) {
	s, _, _, _ := newLifecycleService(t)
	if _, err := s.SoftDelete(context.Background(), "nope"); err == nil {
		t.Fatal("deleted a nonexistent HSM")
	}
	if err := s.Purge(context.Background(), "nope"); err == nil {
		t.Fatal("purged a nonexistent HSM")
	}
}

func ptr[T any](v T) *T { return &v }
