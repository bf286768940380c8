package hsm

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Tests of the record cache's own rules: fills, holds, bounds, copies,
// and what it keeps (data, not decisions; no sealed material).

func TestRecordCacheFillRules(t *testing.T) {
	c := newRecordCache(8)
	rec := &keyRecord{Name: "k"}

	seq := c.begin()
	c.invalidate([]string{"x"})
	if c.add(seq, "x", rec); c.get("x") != nil {
		t.Fatal("a fill read before an invalidation was accepted after it")
	}
	seq = c.begin()
	c.add(seq, "x", rec)
	if c.get("x") != rec {
		t.Fatal("a clean fill was refused")
	}
	c.invalidatePrefix("x")
	if c.get("x") != nil {
		t.Fatal("invalidatePrefix left the record")
	}

	// A write in flight holds its key: the cached record goes, fills are
	// refused, before and after the release, whatever seq they carry.
	c.add(c.begin(), "y", rec)
	before := c.begin()
	c.hold("y")
	if c.get("y") != nil {
		t.Fatal("hold left the record")
	}
	if c.add(c.begin(), "y", rec); c.get("y") != nil {
		t.Fatal("a fill of a held key was accepted")
	}
	c.release([]string{"y"})
	if c.add(before, "y", rec); c.get("y") != nil {
		t.Fatal("a fill read before the write was accepted after it")
	}
	if c.add(c.begin(), "y", rec); c.get("y") != rec {
		t.Fatal("a fill after the release was refused")
	}
	// Holds count: two transactions in flight, one over.
	c.hold("z")
	c.hold("z")
	c.release([]string{"z"})
	if c.add(c.begin(), "z", rec); c.get("z") != nil {
		t.Fatal("a key still held by one transaction was filled")
	}
	c.release([]string{"z"})
	if len(c.held) != 0 {
		t.Fatalf("holds left over: %v", c.held)
	}
}

// TestRecordCacheWriteHolds checks the store wrapper: while an Update is
// in flight, the keys it wrote are held; afterwards they are released,
// whether it committed or not.
func TestRecordCacheWriteHolds(t *testing.T) {
	ctx := context.Background()
	s, h, _, _ := newCacheService(t, 0, false)
	v := lastSeg(mustCreateEC(t, s, h, "w", nil).Key.Kid)
	primeEC(t, s, h, "w")
	vk := verKey(h.Name, "w", v)
	for _, fail := range []bool{false, true} {
		err := s.st.Update(ctx, func(tx store.Tx) error {
			b, err := tx.Get(vk)
			if err != nil {
				return err
			}
			if err := tx.Put(vk, b); err != nil {
				return err
			}
			if s.records.get(vk) != nil || s.records.held[vk] != 1 {
				t.Error("a key written by a transaction in flight is not held")
			}
			if fail {
				return errRolledBack
			}
			return nil
		})
		if (err != nil) != fail {
			t.Fatal(err)
		}
		if len(s.records.held) != 0 {
			t.Fatalf("fail=%v: holds left after the Update: %v", fail, s.records.held)
		}
		primeEC(t, s, h, "w")
	}
}

// TestRecordCacheHitReadsNoStore is the point of the cache: once both
// records and the material are cached, key GET and sign open no store
// transaction; and no cached version record holds sealed material.
func TestRecordCacheHitReadsNoStore(t *testing.T) {
	ctx := context.Background()
	s, h, _, cb := newCacheService(t, 0, false)
	mustCreateEC(t, s, h, "hot", nil)
	mustGetKey(t, s, h, "hot", "")               // records from the store
	if _, err := sign(s, h, "hot"); err != nil { // material: reads the sealed bytes
		t.Fatal(err)
	}
	before := cb.views.Load()
	for range 10 {
		mustGetKey(t, s, h, "hot", "")
		if _, err := sign(s, h, "hot"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, h, "hot", "", &wire.KeyVerifyParameters{Alg: "ES256", Digest: cacheDigest[:], Signature: make([]byte, 64)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := cb.views.Load() - before; n != 0 {
		t.Fatalf("%d store reads with everything cached, want 0", n)
	}
	for _, e := range s.records.byKey {
		if v, ok := e.Value.(*recordEntry).rec.(*versionRecord); ok && v.Sealed != nil {
			t.Fatalf("cached version %s holds sealed material", v.Version)
		}
	}
}

// TestRecordCacheChecksTimeEveryRequest: nbf and exp are decided per
// request with the current time, not when the record was cached.
func TestRecordCacheChecksTimeEveryRequest(t *testing.T) {
	s, h, clk, _ := newCacheService(t, 0, false)
	now := clk.Now().Unix()
	nbf, exp := now+3600, now+3600
	mustCreateEC(t, s, h, "later", &wire.KeyCreateParameters{Attributes: &wire.KeyAttributes{NotBefore: &nbf}})
	mustCreateEC(t, s, h, "soon", &wire.KeyCreateParameters{Attributes: &wire.KeyAttributes{Expires: &exp}})
	if _, err := sign(s, h, "later"); !rotIsKind(err, KindForbidden) {
		t.Fatalf("sign before nbf: %v", err)
	}
	primeEC(t, s, h, "soon")
	wantCached(t, s, h, "later", lastSeg(mustGetKey(t, s, h, "later", "").Key.Kid))
	clk.Advance(2 * time.Hour)
	if _, err := sign(s, h, "later"); err != nil {
		t.Fatalf("sign after nbf, record cached before it: %v", err)
	}
	if _, err := sign(s, h, "soon"); !rotIsKind(err, KindForbidden) {
		t.Fatalf("sign after exp, record cached before it: %v", err)
	}
}

// TestRecordCacheResultsAreCopies: what the Service returns shares nothing
// with the cached records, so callers may modify it.
func TestRecordCacheResultsAreCopies(t *testing.T) {
	ctx := context.Background()
	s, h, _, _ := newCacheService(t, 0, false)
	yes, exp, nbf := true, int64(2000000000), int64(1000000000)
	pol := &wire.KeyReleasePolicy{Immutable: new(bool), Data: []byte(`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"c","equals":"y"}]}]}`)}
	mustCreateEC(t, s, h, "cp", &wire.KeyCreateParameters{Tags: map[string]string{"a": "b"}, ReleasePolicy: pol,
		Attributes: &wire.KeyAttributes{Exportable: &yes, Expires: &exp, NotBefore: &nbf}})
	if _, err := s.SetRotationPolicy(ctx, h, "cp", rotatePolicy("P30D", "", "P90D")); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		b := mustGetKey(t, s, h, "cp", "")
		p, err := s.GetRotationPolicy(ctx, h, "cp")
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal([]any{b, p})
		return string(out)
	}
	want := snapshot() // also fills the cache
	primeEC(t, s, h, "cp")
	b := mustGetKey(t, s, h, "cp", "")
	b.Tags["a"] = "mutated"
	*b.Attributes.Expires, *b.Attributes.NotBefore = 1, 1
	b.Key.X[0] ^= 0xff
	b.Key.Y[0] ^= 0xff
	b.Key.KeyOps[0] = "mutated"
	b.ReleasePolicy.Data[0] = 'X'
	*b.ReleasePolicy.Immutable = true
	p, err := s.GetRotationPolicy(ctx, h, "cp")
	if err != nil {
		t.Fatal(err)
	}
	p.LifetimeActions[0].Action.Type = "mutated"
	p.Attributes.ExpiryTime = "mutated"
	if got := snapshot(); got != want {
		t.Fatalf("a caller's changes reached the cache:\n got %s\nwant %s", got, want)
	}
}

// TestRecordCacheBounded: at most 2×CacheSize records, and reads stay
// right as records are evicted.
func TestRecordCacheBounded(t *testing.T) {
	s, h, _, _ := newCacheService(t, 2, false)
	var kids []string
	for i := range 6 {
		kids = append(kids, mustCreateEC(t, s, h, "b"+strconv.Itoa(i), nil).Key.Kid)
	}
	for round := range 3 {
		for i, kid := range kids {
			if got := mustGetKey(t, s, h, "b"+strconv.Itoa(i), "").Key.Kid; got != kid {
				t.Fatalf("round %d: %s, want %s", round, got, kid)
			}
			if _, err := sign(s, h, "b"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
			if n := s.records.len(); n > 4 {
				t.Fatalf("%d records cached, bound 4", n)
			}
			if n := s.cache.len(); n > 2 {
				t.Fatalf("%d versions of material cached, bound 2", n)
			}
		}
	}
}

// TestRecordCacheConcurrentWrites runs readers against a writer: each
// reader sees tag values that never go back, the writer reads its own
// writes, and the end state is the last write. Run it with -race.
func TestRecordCacheConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s, h, _, _ := newCacheService(t, 0, false)
	mustCreateEC(t, s, h, "cc", &wire.KeyCreateParameters{Tags: map[string]string{"n": "0"}})
	const writes = 60
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				b, err := s.GetKey(ctx, h, "cc", "")
				if err == nil && r%2 == 1 {
					_, err = sign(s, h, "cc")
				}
				if err != nil {
					errs <- err
					return
				}
				n, _ := strconv.Atoi(b.Tags["n"])
				if n < last {
					errs <- fmt.Errorf("reader %d saw n=%d after n=%d", r, n, last)
					return
				}
				last = n
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		if _, err := s.UpdateKey(ctx, h, "cc", "", &wire.KeyUpdateParameters{Tags: map[string]string{"n": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
		if got := mustGetKey(t, s, h, "cc", "").Tags["n"]; got != strconv.Itoa(i) {
			t.Fatalf("writer wrote n=%d and read n=%s", i, got)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := mustGetKey(t, s, h, "cc", "").Tags["n"]; got != strconv.Itoa(writes) {
		t.Fatalf("end state n=%s, want %d", got, writes)
	}
}
