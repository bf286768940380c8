package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentRecordsChainAndVerify(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	var syncs atomic.Int64
	l.SetFaultHook(func(op string) error {
		if op == "sync" {
			syncs.Add(1)
			time.Sleep(time.Millisecond) // a slow disk, so writers pile up
		}
		return nil
	})
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Record(context.Background(), event("dev", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if s := syncs.Load(); s >= n/2 {
		t.Errorf("%d fsyncs for %d concurrent records: group commit is not sharing syncs", s, n)
	}
	l.Close()
	r := verifyDir(t, filepath.Join(dir, "dev"), testPub(t, "dev"))
	if !r.OK() || r.Records != n {
		t.Fatalf("report %+v", r)
	}
	seen := map[string]int{}
	srcs, _ := FindSources(context.Background(), DirFiles(dir), "")
	for _, s := range srcs {
		_ = s.Query(context.Background(), &Filter{}, func(r *Record) error { seen[r.ID]++; return nil })
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s recorded %d times", id, c)
		}
	}
}

func TestRecordWaitsForSync(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	record(t, l, "dev", 0, 1) // open the chain
	release := make(chan struct{})
	l.SetFaultHook(func(op string) error {
		if op == "sync" {
			<-release
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- l.Record(context.Background(), event("dev", 1)) }()
	select {
	case err := <-done:
		t.Fatalf("Record returned (%v) while the fsync was blocked", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFailingSinkFailsClosedAndRecovers(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	record(t, l, "dev", 0, 3)
	broken := errors.New("EIO")
	l.SetFaultHook(func(op string) error { return broken })
	if err := l.Record(context.Background(), event("dev", 3)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Record with a failing disk: %v, want ErrUnavailable", err)
	}
	if err := l.Ready("dev"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready after a failure: %v", err)
	}
	// Other chains are unaffected until they fail themselves.
	l.SetFaultHook(nil)
	if err := l.Probe(); err != nil {
		t.Fatalf("probe after the disk recovered: %v", err)
	}
	if err := l.Ready("dev"); err != nil {
		t.Fatalf("Ready after recovery: %v", err)
	}
	record(t, l, "dev", 4, 2)
	l.Close()
	r := verifyDir(t, filepath.Join(dir, "dev"), testPub(t, "dev"))
	if !r.OK() || r.Records != 5 {
		t.Fatalf("after a failed write the chain must still verify: %+v", r)
	}
}

func TestProbeFindsFailureBeforeAnyWrite(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	record(t, l, "dev", 0, 1)
	l.SetFaultHook(func(op string) error {
		if op == "probe" {
			return errors.New("read-only file system")
		}
		return nil
	})
	if err := l.Probe(); err == nil {
		t.Fatal("probe passed")
	}
	if err := l.Ready("dev"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready = %v", err)
	}
}

func TestRestartResumesChain(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	record(t, l, "dev", 0, 5)
	l.Close()
	l = openTest(t, dir, nil)
	record(t, l, "dev", 5, 5)
	l.Close()
	r := verifyDir(t, filepath.Join(dir, "dev"), testPub(t, "dev"))
	if !r.OK() || r.Records != 10 || r.Checkpoints != 2 {
		t.Fatalf("report %+v", r)
	}
}

// TestCrashTail copies a live chain (records durable, no checkpoint yet),
// adds what a crash in the middle of a write can leave after them, and
// opens the copy: whatever was not acknowledged is dropped, and the
// acknowledged records get a checkpoint. Cases: half a line; half a line
// in the zero padding of the open segment; a line whose first page never
// reached the disk (zeros inside it) with its end in place; padding alone.
func TestCrashTail(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.CheckpointRecords = 1000 })
	record(t, l, "dev", 0, 7)
	live := readChain(t, filepath.Join(dir, "dev"))
	if bytes.IndexByte(live, 0) >= 0 || !bytes.HasSuffix(live, []byte("\n")) {
		t.Fatal("readChain kept padding or a partial line")
	}
	pad := make([]byte, 3000)
	torn := []byte(`{"time":"2026-11-26T10:00:00Z","operat`)
	holed := append(append(make([]byte, 40), `ion":"KeySign","seq":8}`...), '\n')
	for name, tail := range map[string][]byte{
		"half a line":           torn,
		"half a line, padded":   append(slices.Clone(torn), pad...),
		"a line with a hole":    append(slices.Clone(holed), pad...),
		"padding alone":         pad,
		"nothing after records": nil,
	} {
		t.Run(name, func(t *testing.T) {
			crash := t.TempDir()
			seg := filepath.Join(crash, "dev", segName(1))
			if err := os.MkdirAll(filepath.Dir(seg), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(seg, append(slices.Clone(live), tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			l2 := openTest(t, crash, nil)
			record(t, l2, "dev", 7, 1)
			l2.Close()
			r := verifyDir(t, filepath.Join(crash, "dev"), testPub(t, "dev"))
			if !r.OK() || r.Records != 8 {
				t.Fatalf("report %+v", r)
			}
			// Closed, the segment holds records only: no padding left.
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.IndexByte(b, 0) >= 0 || !bytes.HasSuffix(b, []byte("\n")) {
				t.Fatalf("closed segment ends %q", b[max(0, len(b)-40):])
			}
		})
	}
}

// TestOpenSegmentIsPreallocated: while a chain is open its segment is
// zero-padded past the records (commits overwrite zeros and fdatasync);
// readers of the live directory (verify, query) see the records only.
func TestOpenSegmentIsPreallocated(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	record(t, l, "dev", 0, 3)
	seg := filepath.Join(dir, "dev", segName(1))
	st, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != minPrealloc {
		t.Fatalf("open segment is %d bytes, want the least preallocation (%d)", st.Size(), minPrealloc)
	}
	r := verifyDir(t, filepath.Join(dir, "dev"), testPub(t, "dev"))
	if r.Records != 3 || len(r.Problems) != 0 {
		t.Fatalf("live verify: %+v", r)
	}
	// A busier chain preallocates further ahead: as much as it holds
	// (past the first 64 KiB), never more than 1 MiB.
	for i := 3; len(readChain(t, filepath.Join(dir, "dev"))) < 3*minPrealloc; i += 50 {
		record(t, l, "dev", i, 50)
	}
	records := int64(len(readChain(t, filepath.Join(dir, "dev"))))
	st, _ = os.Stat(seg)
	if pad := st.Size() - records; pad < 0 || pad > max(records, minPrealloc) || pad > maxPrealloc || st.Size() <= 3*minPrealloc {
		t.Fatalf("segment of %d bytes holds %d bytes of records: padding %d", st.Size(), records, pad)
	}
	l.Close()
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) <= records || bytes.IndexByte(b, 0) >= 0 || !bytes.HasSuffix(b, []byte("\n")) {
		t.Fatalf("closed segment of %d bytes (records %d, then the closing checkpoint): want its lines only", len(b), records)
	}
}

func TestCorruptLastLineRefusesChain(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	record(t, l, "dev", 0, 2)
	l.Close()
	seg := filepath.Join(dir, "dev", segName(1))
	b, _ := os.ReadFile(seg)
	b = append(b, "garbage\n"...)
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Options{Dir: dir, Keys: testSeed, MinFreeBytes: -1}); err == nil {
		t.Fatal("a chain whose last line is corrupt was resumed")
	}
}

func TestSegmentsAndCheckpointCadence(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := openTest(t, dir, func(o *Options) {
		o.CheckpointRecords, o.SegmentBytes, o.Now, o.CheckpointInterval = 10, 4096, clock, time.Hour
	})
	record(t, l, "dev", 0, 35)
	segs, _ := listSegments(filepath.Join(dir, "dev"))
	if len(segs) < 3 {
		t.Fatalf("%d segments, want rotation past 4 KiB", len(segs))
	}
	// The interval: advance the clock; the next record brings a checkpoint.
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	record(t, l, "dev", 35, 1)
	l.Close()
	r := verifyDir(t, filepath.Join(dir, "dev"), testPub(t, "dev"))
	// 35 records → checkpoints after 10, 20, 30; the 36th record comes
	// after the interval → a checkpoint covering 31..36. Close adds none.
	if !r.OK() || r.Records != 36 || r.Checkpoints != 4 {
		t.Fatalf("report %+v", r)
	}
	// Deleting a whole segment is caught.
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	if r := verifyDir(t, filepath.Join(dir, "dev"), testPub(t, "dev")); r.OK() {
		t.Fatal("a deleted segment was not detected")
	}
}

func TestChainsAreSeparate(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	record(t, l, "dev", 0, 2)
	record(t, l, "prod", 0, 3)
	record(t, l, "", 0, 1)
	if err := l.Record(context.Background(), &Event{HSM: "../etc"}); err == nil {
		t.Fatal("an HSM name with a path was accepted")
	}
	l.Close()
	for chain, n := range map[string]int{"dev": 2, "prod": 3, ServerChain: 1} {
		r := verifyDir(t, filepath.Join(dir, chain), testPub(t, chain))
		if !r.OK() || r.Records != n || r.Chain != chain {
			t.Errorf("%s: %+v", chain, r)
		}
	}
	// A chain does not verify under another chain's key.
	if r := verifyDir(t, filepath.Join(dir, "dev"), testPub(t, "prod")); r.OK() {
		t.Error("dev verified with prod's key")
	}
}

func TestFullDiskFailsClosed(t *testing.T) {
	l := openTest(t, t.TempDir(), func(o *Options) { o.MinFreeBytes = 1 << 62 })
	record(t, l, "dev", 0, 1) // writes still work until a probe looks
	if err := l.Probe(); err == nil {
		t.Fatal("probe passed with less free space than required")
	}
	if err := l.Ready("dev"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready = %v", err)
	}
}

// TestCommitIntervalWhileBusy: while the CPU is saturated, records that
// arrive within CommitInterval of a commit share the next fsync; with spare
// CPU each commit starts at once.
func TestCommitIntervalWhileBusy(t *testing.T) {
	for _, busy := range []bool{true, false} {
		t.Run(fmt.Sprintf("busy=%v", busy), func(t *testing.T) {
			// Not busy, an hour-long interval must not delay anything.
			interval := time.Hour
			if busy {
				interval = 300 * time.Millisecond
			}
			var syncs atomic.Int32
			l := openTest(t, t.TempDir(), func(o *Options) {
				o.CommitInterval = interval
				o.Busy = func() bool { return busy }
			})
			l.SetFaultHook(func(op string) error {
				if op == "sync" {
					syncs.Add(1)
				}
				return nil
			})
			ctx := context.Background()
			if err := l.Record(ctx, event("dev", 0)); err != nil { // opens the chain
				t.Fatal(err)
			}
			if err := l.Record(ctx, event("dev", 1)); err != nil { // the last commit began just now
				t.Fatal(err)
			}
			before := syncs.Load()
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					if err := l.Record(ctx, event("dev", 2+i)); err != nil {
						t.Error(err)
					}
				})
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("records still waiting after a minute: the commit interval applied with spare CPU")
			}
			if n := syncs.Load() - before; busy && n != 1 {
				t.Fatalf("busy: 8 concurrent records took %d fsyncs, want 1 shared", n)
			}
		})
	}
}
