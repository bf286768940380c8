package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Change is one batch of committed writes a process learned of, in commit
// order. Keys are the store keys put or deleted (each possibly more than
// once). Reset means changes may have been missed — a lost watch, a
// compaction, a partition — and every cache built from the store must be
// dropped; Keys is then empty.
type Change struct {
	Keys     []string
	Reset    bool
	Revision int64 // the store revision the batch brings the process to; 0 when unknown
}

// Watchable is a Backend that reports committed changes through a Feed:
// its own writes and, for a shared backend (Etcd), every other process's.
// Caches subscribe to the Feed and drop what a change makes stale.
type Watchable interface {
	Backend
	Feed() *Feed
}

// ErrNotCaughtUp is what Feed.Ready returns while the process has lost its
// change feed and has not yet caught up: its caches may be stale, so it
// must not report itself ready.
var ErrNotCaughtUp = errors.New("store: change feed lost; not caught up yet")

// Feed delivers Changes to subscribers, one at a time, in order, from its
// own goroutine (so a subscriber may read the store and take its own
// locks; it must not block forever). Publishing never blocks the writer.
type Feed struct {
	mu      sync.Mutex
	subs    []func(Change)
	queue   []item
	wake    chan struct{}
	applied atomic.Int64 // revision of the last delivered change
	ready   atomic.Pointer[error]
}

// NewFeed returns a ready Feed whose delivery goroutine runs until ctx ends.
func NewFeed(ctx context.Context) *Feed {
	f := &Feed{wake: make(chan struct{}, 1)}
	f.SetReady(nil)
	go f.run(ctx)
	return f
}

// Subscribe adds fn; it sees every Change published after this call.
func (f *Feed) Subscribe(fn func(Change)) {
	f.mu.Lock()
	f.subs = append(f.subs, fn)
	f.mu.Unlock()
}

// Publish queues c for delivery.
func (f *Feed) Publish(c Change) { f.push(item{c: c}) }

// SetReady records whether the feed is caught up: nil, or why not.
func (f *Feed) SetReady(err error) { f.ready.Store(&err) }

// Ready returns nil when the process is caught up with the store's
// changes, else why not (wrapping ErrNotCaughtUp).
func (f *Feed) Ready() error {
	if p := f.ready.Load(); p != nil {
		return *p
	}
	return nil
}

// Applied returns the revision of the last change delivered to every
// subscriber (0 for backends without revisions).
func (f *Feed) Applied() int64 { return f.applied.Load() }

// Flush waits until every change published before the call is delivered,
// or ctx ends.
func (f *Feed) Flush(ctx context.Context) error {
	done := make(chan struct{})
	f.push(item{done: done})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// item is a queued Change, or a marker: done is closed, then fn called,
// once every earlier Change is delivered.
type item struct {
	c    Change
	done chan struct{}
	fn   func()
}

// AfterDelivery calls fn from the delivery goroutine once every Change
// published before it has been delivered to every subscriber.
func (f *Feed) AfterDelivery(fn func()) { f.push(item{fn: fn}) }

func (f *Feed) push(it item) {
	f.mu.Lock()
	f.queue = append(f.queue, it)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Feed) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		}
		for {
			f.mu.Lock()
			if len(f.queue) == 0 {
				f.mu.Unlock()
				break
			}
			it := f.queue[0]
			f.queue = f.queue[1:]
			subs := f.subs
			f.mu.Unlock()
			if it.done != nil || it.fn != nil {
				if it.done != nil {
					close(it.done)
				}
				if it.fn != nil {
					it.fn()
				}
				continue
			}
			for _, fn := range subs {
				fn(it.c)
			}
			if it.c.Revision > 0 {
				f.applied.Store(it.c.Revision)
			}
		}
	}
}
