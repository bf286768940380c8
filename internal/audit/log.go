package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable is returned (wrapped) by Ready and Record when a chain
// cannot write. Callers answer 503 and must not act.
var ErrUnavailable = errors.New("audit: the audit log cannot be written")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("audit: log closed")

// ServerChain is the chain of events that belong to no HSM: token endpoint
// calls and requests naming an HSM that does not exist.
const ServerChain = "_server"

// Recorder is what a request pipeline needs: Ready before acting, Record
// before answering. Both planes use it.
type Recorder interface {
	// Ready returns nil when hsm's chain ("" for the server chain) can
	// record now, and an error wrapping ErrUnavailable or ErrClosed
	// otherwise. A caller that gets an error answers 503 without acting.
	Ready(hsm string) error
	// Record appends e and returns once it is durable. An error means the
	// record is not in the log; the caller answers 503 instead of the
	// result it computed.
	Record(ctx context.Context, e *Event) error
}

var _ Recorder = (*Log)(nil)

// Discard records nothing: audit off (benchmarking only).
var Discard Recorder = discard{}

type discard struct{}

func (discard) Ready(string) error                   { return nil }
func (discard) Record(context.Context, *Event) error { return nil }

// FaultHook, when set, is called before every file operation ("write",
// "sync", "probe"); an error makes the operation fail, and blocking blocks
// the chain. For tests.
type FaultHook func(op string) error

// Options configure a Log. Zero values take the documented defaults.
type Options struct {
	// Dir holds one directory per chain. Required.
	Dir string
	// Keys gives each chain its signing and HMAC keys. Required.
	Keys KeyProvider
	// CheckpointRecords: a checkpoint is written after this many records.
	// Default 1000.
	CheckpointRecords int
	// CheckpointInterval: a checkpoint is written when records are this old
	// and uncovered. Default 1m.
	CheckpointInterval time.Duration
	// SegmentBytes: a new segment file starts past this size. Default 64 MiB.
	SegmentBytes int64
	// ProbeInterval is how often a chain is probed and a failed one
	// retried. Default 1s.
	ProbeInterval time.Duration
	// MinFreeBytes: a chain is unavailable when its file system has less
	// free space. Default 16 MiB; negative disables the check.
	MinFreeBytes int64
	// CommitInterval is, while Busy, the least time between the starts of
	// two group commits of a chain: records that arrive meanwhile share the
	// next write and fsync, trading at most that much latency for fewer
	// fsyncs when the CPU they cost is what limits throughput. 0, or not
	// Busy, commits as soon as the previous commit is done.
	CommitInterval time.Duration
	// Busy reports whether the CPU is saturated. Default: the machine's
	// CPUs are busy or this process's run queue is long (busy.go).
	Busy func() bool
	// SyncEachRecord gives every record its own write and fsync instead of
	// sharing them (group commit). For benchmarks only.
	SyncEachRecord bool
	// ResourceID maps an HSM name to its ARM resource id, for records and
	// the delivery layout. Default: a resource in subscription
	// 00000000-0000-0000-0000-000000000000, resource group MHSM.
	ResourceID func(hsm string) string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultResourceID is the ARM id used when no resolver is configured.
func DefaultResourceID(hsm string) string {
	return "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/MHSM/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/" + upper(hsm)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// Log is the audit log: one hash chain per HSM plus the server chain, each
// in its own directory under Options.Dir, written with group commit.
type Log struct {
	opts Options

	mu      sync.RWMutex
	writers map[string]*writer
	closed  bool

	hook atomic.Pointer[FaultHook]

	subMu sync.Mutex
	subs  []func(chain string)
}

var chainName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// chainOf maps an HSM name to its chain.
func chainOf(hsm string) (string, error) {
	if hsm == "" {
		return ServerChain, nil
	}
	if !chainName.MatchString(hsm) {
		return "", fmt.Errorf("audit: %q is not a valid HSM name", hsm)
	}
	return hsm, nil
}

// Open opens the log in opts.Dir, resuming every chain found there.
func Open(ctx context.Context, opts Options) (*Log, error) {
	if opts.Dir == "" || opts.Keys == nil {
		return nil, errors.New("audit: Dir and Keys are required")
	}
	if opts.CheckpointRecords <= 0 {
		opts.CheckpointRecords = 1000
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Minute
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = time.Second
	}
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = 16 << 20
	}
	if opts.ResourceID == nil {
		opts.ResourceID = DefaultResourceID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Busy == nil {
		opts.Busy = defaultBusy.saturated
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l := &Log{opts: opts, writers: map[string]*writer{}}
	ents, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() && (e.Name() == ServerChain || chainName.MatchString(e.Name())) {
			if _, err := l.writer(ctx, e.Name()); err != nil {
				l.Close()
				return nil, err
			}
		}
	}
	return l, nil
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.opts.Dir }

func (l *Log) now() time.Time { return l.opts.Now() }

func (l *Log) fault(op string) error {
	if h := l.hook.Load(); h != nil {
		return (*h)(op)
	}
	return nil
}

// SetFaultHook installs h (nil removes it). For tests.
func (l *Log) SetFaultHook(h FaultHook) {
	if h == nil {
		l.hook.Store(nil)
		return
	}
	l.hook.Store(&h)
}

// writer returns the open writer of chain, opening it on first use.
func (l *Log) writer(ctx context.Context, chain string) (*writer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if w := l.writers[chain]; w != nil {
		return w, nil
	}
	keys, err := l.opts.Keys.ChainKeys(ctx, chain)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	w, err := openWriter(l, chain, filepath.Join(l.opts.Dir, chain), keys)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.writers[chain] = w
	return w, nil
}

func (l *Log) writerFor(ctx context.Context, hsm string) (*writer, error) {
	// Fast path: an open chain (every request looks its chain up twice).
	if name := cmp.Or(hsm, ServerChain); hsm != ServerChain {
		l.mu.RLock()
		w, closed := l.writers[name], l.closed
		l.mu.RUnlock()
		if w != nil && !closed {
			return w, nil
		}
	}
	chain, err := chainOf(hsm)
	if err != nil {
		return nil, err
	}
	return l.writer(ctx, chain)
}

// Ready implements Recorder.
func (l *Log) Ready(hsm string) error {
	w, err := l.writerFor(context.Background(), hsm)
	if err != nil {
		return err
	}
	return w.ready()
}

// Record implements Recorder: it encodes e (resolving its resource id and
// HMACing its hashed values), appends it to its chain and waits until it
// is durable.
func (l *Log) Record(ctx context.Context, e *Event) error {
	w, err := l.writerFor(ctx, e.HSM)
	if err != nil {
		return err
	}
	if e.ResourceID == "" && e.HSM != "" {
		e.ResourceID = l.opts.ResourceID(e.HSM)
	}
	body, err := e.encode(w.keys.HMAC)
	if err != nil {
		return err
	}
	if len(body) > maxLine-256 {
		return fmt.Errorf("audit: record of %d bytes is too large", len(body))
	}
	return w.submit(body, false, false)
}

// Checkpoint writes a checkpoint on hsm's chain now if any record is
// uncovered.
func (l *Log) Checkpoint(hsm string) error {
	w, err := l.writerFor(context.Background(), hsm)
	if err != nil {
		return err
	}
	return w.submit(nil, true, false)
}

// Probe checks every open chain now (as the probe does each
// ProbeInterval) and returns the first failure.
func (l *Log) Probe() error {
	l.mu.Lock()
	ws := make([]*writer, 0, len(l.writers))
	for _, w := range l.writers {
		ws = append(ws, w)
	}
	l.mu.Unlock()
	var first error
	for _, w := range ws {
		if err := w.submit(nil, false, true); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// PublicKey returns the checkpoint verification key of hsm's chain.
func (l *Log) PublicKey(ctx context.Context, hsm string) (*PublicKey, error) {
	w, err := l.writerFor(ctx, hsm)
	if err != nil {
		return nil, err
	}
	return w.keys.publicKey(), nil
}

// HMAC returns how value appears in hsm's records when passed to
// Event.Hash, so an auditor holding a token can find its records.
func (l *Log) HMAC(ctx context.Context, hsm, value string) (string, error) {
	w, err := l.writerFor(ctx, hsm)
	if err != nil {
		return "", err
	}
	return HMAC(w.keys.HMAC, value), nil
}

// Subscribe calls fn (which must not block) after each durable commit.
func (l *Log) Subscribe(fn func(chain string)) {
	l.subMu.Lock()
	l.subs = append(l.subs, fn)
	l.subMu.Unlock()
}

func (l *Log) notify(chain string) {
	l.subMu.Lock()
	subs := l.subs
	l.subMu.Unlock()
	for _, fn := range subs {
		fn(chain)
	}
}

// durable returns how far chain is durable (false if it is not open).
func (l *Log) durable(chain string) (position, bool) {
	l.mu.Lock()
	w := l.writers[chain]
	l.mu.Unlock()
	if w == nil {
		return position{}, false
	}
	return w.durable(), true
}

// resourceID resolves an HSM's ARM id.
func (l *Log) resourceID(hsm string) string { return l.opts.ResourceID(hsm) }

// Close writes a final checkpoint on every chain with uncovered records and
// closes the files. Record after Close returns ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	ws := l.writers
	l.mu.Unlock()
	for _, w := range ws {
		close(w.stop)
	}
	for _, w := range ws {
		<-w.done
	}
	return nil
}
