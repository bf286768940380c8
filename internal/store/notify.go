package store

import "context"

// Notifying wraps a single-process Backend (Bolt, Memory) as a Watchable:
// after each committed Update it publishes the keys that Update put or
// deleted. It is the trivial, in-process change feed: the wrapped backend
// has one writer, this process, so nothing is ever missed and the feed is
// always ready.
type Notifying struct {
	Backend
	feed *Feed
}

var _ Watchable = (*Notifying)(nil)

// Notify wraps b; the feed's goroutine runs until ctx ends.
func Notify(ctx context.Context, b Backend) *Notifying {
	return &Notifying{Backend: b, feed: NewFeed(ctx)}
}

// Feed returns the change feed.
func (n *Notifying) Feed() *Feed { return n.feed }

// Update runs fn through the wrapped backend and, if it committed,
// publishes the keys of its last attempt.
func (n *Notifying) Update(ctx context.Context, fn func(Tx) error) error {
	var keys []string
	err := n.Backend.Update(ctx, func(tx Tx) error {
		keys = keys[:0]
		return fn(&notingTx{Tx: tx, keys: &keys})
	})
	if err == nil && len(keys) > 0 {
		n.feed.Publish(Change{Keys: keys})
	}
	return err
}

// notingTx records the keys a write transaction changes.
type notingTx struct {
	Tx
	keys *[]string
}

func (t *notingTx) Put(key string, value []byte) error {
	if err := t.Tx.Put(key, value); err != nil {
		return err
	}
	*t.keys = append(*t.keys, key)
	return nil
}

func (t *notingTx) Delete(key string) error {
	if err := t.Tx.Delete(key); err != nil {
		return err
	}
	*t.keys = append(*t.keys, key)
	return nil
}
