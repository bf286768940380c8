package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// writer appends one chain to its directory of segment files
// (<dir>/<first seq, 20 digits>.jsonl) with group commit: records queued
// while a write+fsync is in flight go out together in the next one, and
// every caller learns when its own record is durable. One goroutine (loop)
// owns the file.
type writer struct {
	log  *Log
	name string
	dir  string
	keys *Keys

	mu      sync.Mutex
	pending []*batch // oldest first; records join the last one
	closed  bool
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}

	failure atomic.Pointer[error] // non-nil while the chain cannot write

	// Owned by loop.
	f         *os.File
	seg       string    // current segment path
	size      int64     // durable size of seg: where its records end
	alloc     int64     // size of seg's file: size plus zero padding (prealloc.go)
	seq       uint64    // seq of the last durable line
	last      digest    // hash of the last durable line
	since     int       // records after the last checkpoint
	lastCP    time.Time // when the last checkpoint was written
	probed    time.Time // last probe
	committed time.Time // when the last group commit began
	buf       []byte

	posMu sync.Mutex
	pos   position
}

// position is how far a chain is durable, for readers such as delivery.
type position struct {
	Seg string
	Off int64
	Seq uint64
}

// batch is what one write and fsync carry: records queued together, and
// whether a checkpoint or a probe was asked for. Its submitters share one
// completion (done closes, then err is the outcome for all of them), so a
// record costs no channel of its own.
type batch struct {
	bodies     [][]byte
	checkpoint bool
	probe      bool
	done       chan struct{}
	err        error
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// finish answers every submitter of b.
func (b *batch) finish(err error) {
	if err != nil {
		b.err = fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	close(b.done)
}

// maxBatch bounds the records in one write.
const maxBatch = 4096

func segName(firstSeq uint64) string { return fmt.Sprintf("%020d.jsonl", firstSeq) }

// listSegments returns the segment files of dir in order.
func listSegments(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".jsonl") {
			segs = append(segs, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(segs)
	return segs, nil
}

// openWriter opens (or creates) the chain in dir, recovers its tail and
// starts the committer.
func openWriter(l *Log, name, dir string, keys *Keys) (*writer, error) {
	w := &writer{log: l, name: name, dir: dir, keys: keys, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), last: genesis}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := w.recoverTail(); err != nil {
		return nil, err
	}
	pub := keys.publicKey()
	if err := writeFileAtomic(filepath.Join(dir, "publickey.pem"), pub.PEM(), 0o644); err != nil {
		_ = w.f.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	w.lastCP, w.probed = l.now(), l.now()
	w.setPos()
	if w.since > 0 {
		// Records from before a crash that no checkpoint covers: they were
		// durable (acknowledged), so sign them now.
		w.commit(&batch{checkpoint: true, done: make(chan struct{})})
	}
	go w.loop()
	return w, nil
}

// recoverTail opens the last segment, drops a trailing partial line (a
// record whose write never completed, so was never acknowledged) and
// restores seq and the last hash from the last complete line.
func (w *writer) recoverTail() error {
	segs, err := listSegments(w.dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if len(segs) == 0 {
		w.seg = filepath.Join(w.dir, segName(1))
		f, err := openSegment(w.seg, true)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		w.f = f
		return syncDir(w.dir)
	}
	w.seg = segs[len(segs)-1]
	f, err := openSegment(w.seg, false)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	w.f = f
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	line, end, err := lastRecord(f, st.Size())
	if err != nil {
		return fmt.Errorf("audit: %s: %w", w.seg, err)
	}
	if end != st.Size() {
		if pad, err := contentEnd(f, st.Size()); err == nil && pad != end {
			slog.Warn("audit: dropping an incomplete record at the end of the log (never acknowledged)", "chain", w.name, "bytes", pad-end)
		}
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	w.size, w.alloc = end, end
	for i := len(segs) - 2; line == nil && i >= 0; i-- {
		pf, err := os.Open(segs[i])
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		pst, _ := pf.Stat()
		line, _, err = lastRecord(pf, pst.Size())
		_ = pf.Close()
		if err != nil {
			return fmt.Errorf("audit: %s: %w", segs[i], err)
		}
	}
	if line == nil {
		return nil
	}
	h, err := parseHead(line)
	if err != nil {
		return fmt.Errorf("audit: the last line of chain %s is corrupt; run `mhsm audit verify`: %w", w.name, err)
	}
	w.seq, w.last = *h.Seq, hashLine(line)
	if h.Category != CategoryCheckpoint {
		w.since = 1
	}
	return nil
}

// tailLine returns the last complete line of f (nil if none) and the offset
// just after it.
func tailLine(f io.ReaderAt, size int64) ([]byte, int64, error) {
	n := min(size, 2*maxLine+2)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	i := bytes.LastIndexByte(buf, '\n')
	if i < 0 {
		if size > n {
			return nil, 0, errors.New("no line end in the last 128 KiB")
		}
		return nil, 0, nil
	}
	j := bytes.LastIndexByte(buf[:i], '\n')
	if j < 0 && size > n {
		return nil, 0, errors.New("line longer than 128 KiB")
	}
	return buf[j+1 : i], size - n + int64(i) + 1, nil
}

// submit adds a record (body), or a checkpoint or probe request (body nil
// and checkpoint or probe set), to the open batch and waits until that
// batch is durable.
func (w *writer) submit(body []byte, checkpoint, probe bool) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	n := len(w.pending)
	if n == 0 || len(w.pending[n-1].bodies) >= maxBatch {
		w.pending = append(w.pending, newBatch())
		n++
	}
	b := w.pending[n-1]
	if body != nil {
		b.bodies = append(b.bodies, body)
	}
	b.checkpoint = b.checkpoint || checkpoint
	b.probe = b.probe || probe
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	<-b.done
	return b.err
}

// ready reports whether the chain can write.
func (w *writer) ready() error {
	if e := w.failure.Load(); e != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, *e)
	}
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return nil
}

// linger waits, before a commit, until CommitInterval has passed since the
// last one began — but only while the CPU is the bottleneck (Options.Busy)
// and no full batch is waiting: records that arrive meanwhile share the
// flush. An fsync that grows the file costs this kind of machine ~130 µs
// of CPU (journal commit, device flush, interrupts: BenchmarkSyncCPU), the
// fdatasync of a preallocated segment ~70 µs (prealloc.go): comparable to
// a whole key GET. Under load the writer flushed back to back, a few
// records at a time. With spare CPU a commit starts at once,
// since waiting would only add latency.
func (w *writer) linger() {
	iv := w.log.opts.CommitInterval
	if iv <= 0 {
		return
	}
	busy := w.log.opts.Busy() // sampled before every commit: it may keep a running mean
	wait := time.Until(w.committed.Add(iv))
	if wait <= 0 || !busy {
		return
	}
	w.mu.Lock()
	full := len(w.pending) > 1
	w.mu.Unlock()
	if !full {
		time.Sleep(wait)
	}
}

// take removes the oldest batch (nil if none).
func (w *writer) take() *batch {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	b := w.pending[0]
	w.pending[0] = nil
	w.pending = w.pending[1:]
	if len(w.pending) > 0 {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return b
}

func (w *writer) loop() {
	defer close(w.done)
	t := time.NewTicker(w.log.opts.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-w.kick:
			w.linger()
			if b := w.take(); b != nil {
				w.committed = time.Now()
				w.commit(b)
			}
		case <-t.C:
			w.tick()
		case <-w.stop:
			w.mu.Lock()
			w.closed = true
			rest := w.pending
			w.pending = nil
			w.mu.Unlock()
			for _, b := range rest {
				w.commit(b)
			}
			if w.since > 0 {
				w.commit(&batch{checkpoint: true, done: make(chan struct{})})
			}
			if w.failure.Load() == nil {
				_ = w.trim()
			}
			_ = w.f.Close()
			return
		}
	}
}

// tick recovers a failed chain, writes a checkpoint when T has passed
// since the last one, and probes the chain every ProbeInterval — busy or
// idle, so a filling disk is found before a write fails.
func (w *writer) tick() {
	now := w.log.now()
	if w.failure.Load() != nil {
		w.recover()
		return
	}
	if w.since > 0 && now.Sub(w.lastCP) >= w.log.opts.CheckpointInterval {
		w.commit(&batch{checkpoint: true, done: make(chan struct{})})
	}
	if now.Sub(w.probed) >= w.log.opts.ProbeInterval {
		_ = w.probe()
	}
}

// commit writes the records of b, a checkpoint when one is due, and one
// fsync; then answers every submitter.
func (w *writer) commit(b *batch) {
	if w.failure.Load() != nil && !w.recover() {
		b.finish(*w.failure.Load())
		return
	}
	if !w.log.opts.SyncEachRecord {
		b.finish(w.write(b.bodies, b.checkpoint, b.probe))
		return
	}
	for i := range b.bodies {
		if err := w.write(b.bodies[i:i+1], false, false); err != nil {
			b.finish(err)
			return
		}
	}
	b.finish(w.write(nil, b.checkpoint, b.probe))
}

// write appends the records (chained), a checkpoint if one is due or force
// asks for one, and fsyncs; with nothing to write it probes if probe asks.
func (w *writer) write(bodies [][]byte, force, probe bool) error {
	now := w.log.now()
	seq, last, since := w.seq, w.last, w.since
	buf := w.buf[:0]
	for _, body := range bodies {
		start := len(buf)
		buf = appendRecord(buf, body, seq+1, last)
		seq, last, since = seq+1, hashLine(buf[start:]), since+1
		buf = append(buf, '\n')
	}
	cp := since > 0 && (force || since >= w.log.opts.CheckpointRecords || now.Sub(w.lastCP) >= w.log.opts.CheckpointInterval)
	if cp {
		line := encodeCheckpoint(w.name, seq+1, last, now, w.keys.Sign)
		seq, last, since = seq+1, hashLine(line), 0
		buf = append(append(buf, line...), '\n')
	}
	w.buf = buf[:0]
	if len(buf) == 0 {
		if probe {
			return w.probe()
		}
		return nil
	}
	err := w.log.fault("write")
	grew := false
	if err == nil {
		grew, err = w.place(buf)
	}
	if err == nil {
		err = w.log.fault("sync")
	}
	if err == nil {
		err = w.flush(grew)
	}
	if err != nil {
		w.trip(err)
		return err
	}
	w.seq, w.last, w.since, w.size = seq, last, since, w.size+int64(len(buf))
	if cp {
		w.lastCP = now
	}
	w.setPos()
	w.log.notify(w.name)
	if w.size >= w.log.opts.SegmentBytes {
		w.rotate()
	}
	return nil
}

// probe checks that the chain could write now: the fault hook, free disk
// space (MinFreeBytes) and an fsync of the open segment.
func (w *writer) probe() error {
	w.probed = w.log.now()
	err := w.log.fault("probe")
	if err == nil {
		err = checkFreeSpace(w.dir, w.log.opts.MinFreeBytes)
	}
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		w.trip(err)
	}
	return err
}

func (w *writer) trip(err error) {
	if w.failure.Load() == nil {
		slog.Error("audit: the log cannot be written; requests fail closed with 503", "chain", w.name, "err", err)
	}
	w.failure.Store(&err)
}

// recover reopens the segment, cuts it back to its durable size (dropping
// whatever a failed write left, none of it acknowledged) and clears the
// failure if that and a probe succeed.
func (w *writer) recover() bool {
	err := w.log.fault("probe")
	if err == nil {
		err = checkFreeSpace(w.dir, w.log.opts.MinFreeBytes)
	}
	var f *os.File
	if err == nil {
		f, err = openSegment(w.seg, false)
	}
	if err == nil {
		if err = f.Truncate(w.size); err == nil {
			err = f.Sync()
		}
		if err != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		w.failure.Store(&err)
		return false
	}
	_ = w.f.Close()
	w.f, w.alloc = f, w.size
	w.failure.Store(nil)
	w.probed = w.log.now()
	slog.Info("audit: the log is writable again", "chain", w.name)
	return true
}

// rotate starts a new segment, once the current one is cut back to its
// records; on failure the current one stays in use.
func (w *writer) rotate() {
	if err := w.trim(); err != nil {
		w.trip(err) // the segment's size is unknown: recover cuts it back again
		return
	}
	name := filepath.Join(w.dir, segName(w.seq+1))
	f, err := openSegment(name, true)
	if err == nil {
		if err = syncDir(w.dir); err != nil {
			_ = f.Close()
			_ = os.Remove(name)
		}
	}
	if err != nil {
		slog.Warn("audit: cannot start a new segment; continuing in the current one", "chain", w.name, "err", err)
		return
	}
	_ = w.f.Close()
	w.f, w.seg, w.size, w.alloc = f, name, 0, 0
	w.setPos()
}

func (w *writer) setPos() {
	w.posMu.Lock()
	w.pos = position{Seg: w.seg, Off: w.size, Seq: w.seq}
	w.posMu.Unlock()
}

// durable returns how far the chain is durable.
func (w *writer) durable() position {
	w.posMu.Lock()
	defer w.posMu.Unlock()
	return w.pos
}
