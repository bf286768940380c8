package etcd

import (
	"github.com/mhsm/mhsm/internal/store"

	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
)

// watch feeds every committed change after revision from into e.feed, in
// revision order, until ctx ends. The feed counts as lost — subscribers get
// a Reset and Ready reports store.ErrNotCaughtUp — when the watch is cancelled
// (compaction past the last applied revision, the member lost its leader)
// or when etcd has not confirmed within StaleAfter that this process is
// current (a partition: a silent watch is indistinguishable from an idle
// one, so the process asks for progress every ProgressInterval). It then
// reads the current revision, resets the caches once more (anything filled
// while the feed was lost is dropped) and watches again from there; only
// once etcd confirms that new watch is the process ready again.
func (e *Etcd) watch(ctx context.Context, from int64) {
	defer close(e.done)
	w := namespace.NewWatcher(clientv3.NewWatcher(e.cli), e.opts.Prefix)
	defer w.Close()
	applied := from
	for ctx.Err() == nil {
		if err := e.follow(ctx, w, &applied); ctx.Err() != nil {
			return
		} else {
			slog.Warn("store: etcd change feed lost; caches dropped, node not ready until caught up", "err", err, "applied", applied)
		}
		e.feed.SetReady(fmt.Errorf("%w (last applied revision %d)", store.ErrNotCaughtUp, applied))
		e.feed.Publish(store.Change{Reset: true})
		// Catch up: the current revision, read linearizably, becomes the
		// new starting point; every cache is empty as of it.
		for ctx.Err() == nil {
			cctx, cancel := e.opCtx(ctx)
			resp, err := e.kv.Get(cctx, "sys/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			cancel()
			if err == nil {
				applied = resp.Header.Revision
				e.feed.Publish(store.Change{Reset: true, Revision: applied})
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// follow watches from *applied+1 and publishes each batch of events. It
// returns (with an error saying why) when the watch is lost.
//
// Staleness bound: every ProgressInterval a probe reads the store's current
// revision (linearizably) and asks etcd for a progress notification; etcd
// sends one only once this watch has delivered everything up to its
// revision. A probe taken at time t and answered that way proves every
// write acknowledged before t has reached the caches. If no probe younger
// than StaleAfter has been answered, the watch counts as lost. So a write
// acknowledged at time T has, by T + StaleAfter + ProgressInterval, reached
// this node's caches, or the node has dropped them and reports not ready.
func (e *Etcd) follow(ctx context.Context, w clientv3.Watcher, applied *int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	ch := w.Watch(wctx, "\x00", clientv3.WithFromKey(), clientv3.WithRev(*applied+1),
		clientv3.WithCreatedNotify(), clientv3.WithProgressNotify())
	var done atomic.Int64 // revision delivered to the feed
	done.Store(*applied)
	lost := make(chan error, 1)
	go func() { // the staleness probe
		type probe struct {
			rev int64
			at  time.Time
		}
		var probes []probe
		confirmed := time.Now() // the time of the latest answered probe
		t := time.NewTicker(e.opts.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			for d := done.Load(); len(probes) > 0 && probes[0].rev <= d; probes = probes[1:] {
				confirmed = probes[0].at
			}
			if since := time.Since(confirmed); since > e.opts.StaleAfter {
				lost <- fmt.Errorf("not confirmed current for %s", since.Round(time.Millisecond))
				cancel()
				return
			}
			at := time.Now()
			pctx, pcancel := context.WithTimeout(wctx, e.opts.ProgressInterval)
			resp, err := e.kv.Get(pctx, "sys/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err == nil {
				probes = append(probes, probe{rev: resp.Header.Revision, at: at})
				_ = w.RequestProgress(pctx)
			}
			pcancel()
		}
	}()
	for resp := range ch {
		if resp.CompactRevision != 0 {
			return fmt.Errorf("compacted past revision %d (now %d)", *applied, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return err
		}
		if resp.Created {
			e.feed.SetReady(nil)
			continue
		}
		rev := int64(0)
		if resp.IsProgressNotify() {
			rev = resp.Header.Revision // everything up to it was delivered
		}
		if len(resp.Events) > 0 {
			keys := make([]string, len(resp.Events))
			for i, ev := range resp.Events {
				keys[i] = string(ev.Kv.Key)
			}
			rev = resp.Events[len(resp.Events)-1].Kv.ModRevision
			e.feed.Publish(store.Change{Keys: keys, Revision: rev})
		}
		if rev > *applied {
			*applied = rev
		}
		// The probe may count a revision as applied only once the
		// subscribers have seen it: it waits for the feed to deliver.
		if rev > 0 {
			e.feed.AfterDelivery(func() { storeMax(&done, rev) })
		}
	}
	select {
	case err := <-lost:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("watch closed")
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
