// Package etcd is the store.Backend of several mhsm nodes sharing an etcd v3
// cluster: optimistic transactions guarded by revisions (tx.go), long lists
// paged, requests over etcd's limits refused before they are sent, and the
// change feed from a watch starting at the last revision the node applied
// (watch.go). Only the composition root (internal/app) imports it, so the
// services below the edge do not link the etcd client's gRPC and HTTP stack
// (internal/layering). Read etcd.go, then tx.go and watch.go.
package etcd

import (
	"github.com/mhsm/mhsm/internal/store"

	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limits of the etcd backend. The byte limit is etcd's server default
// (--max-request-bytes 1.5 MiB). The operation limit is not: an Update
// guards every key it listed (that is how a concurrent deletion inside a
// listed range is caught), and an HSM's role assignments are listed whole,
// so etcd members serving mhsm run with --max-txn-ops 4096 (etcd's
// default, 128, refuses such transactions: they fail with store.ErrTooLarge).
const (
	DefaultEtcdMaxTxnBytes = 1536 * 1024
	DefaultEtcdMaxTxnOps   = 4096
	DefaultEtcdPageSize    = 256
	DefaultEtcdOpTimeout   = 5 * time.Second
)

// EtcdOptions configures OpenEtcd. Zero values mean the defaults above.
type EtcdOptions struct {
	// Endpoints are the etcd client URLs. Required.
	Endpoints []string
	// TLS, when set, is used for every connection (client certificate
	// included).
	TLS *tls.Config
	// Prefix namespaces every key ("mhsm/" when empty), so several mhsm
	// clusters (or tests) can share one etcd.
	Prefix string
	// DialTimeout bounds the first connection; 0 means 5s.
	DialTimeout time.Duration
	// OpTimeout bounds each etcd request; 0 means DefaultEtcdOpTimeout.
	OpTimeout time.Duration
	// MaxTxnBytes and MaxTxnOps bound one Update's commit request.
	MaxTxnBytes, MaxTxnOps int
	// PageSize is how many keys one range request returns; List pages
	// through long ranges with it.
	PageSize int
	// MaxAttempts bounds the optimistic retries of one Update; 0 means 64.
	MaxAttempts int
	// ProgressInterval is how often the change feed asks etcd to confirm
	// it is current; 0 means 250ms. StaleAfter is how long without such a
	// confirmation before the feed counts as lost; 0 means 2s.
	ProgressInterval, StaleAfter time.Duration
}

// Etcd is a Backend over an etcd v3 cluster, shared by several mhsm
// processes. Reads of one transaction come from one store revision (a
// snapshot: the first read is linearizable and fixes the revision). Update
// is optimistic: writes are buffered, and the commit is one etcd
// transaction that succeeds only if nothing the function read — each key,
// and each listed range — changed since that revision; otherwise fn runs
// again on a fresh snapshot. No lock, distributed or not, is involved.
//
// Every committed write, from any process, reaches store.Feed through an etcd
// watch from the last revision this process applied (watch.go).
type Etcd struct {
	cli    *clientv3.Client
	kv     clientv3.KV
	opts   EtcdOptions
	closed atomic.Bool
	feed   *store.Feed
	stop   context.CancelFunc
	done   chan struct{}
}

var _ store.Watchable = (*Etcd)(nil)

// OpenEtcd connects to the cluster, checks it answers, and starts the
// change feed.
func OpenEtcd(ctx context.Context, o EtcdOptions) (*Etcd, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("store: etcd: no endpoints")
	}
	if o.Prefix == "" {
		o.Prefix = "mhsm/"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultEtcdOpTimeout
	}
	if o.MaxTxnBytes <= 0 {
		o.MaxTxnBytes = DefaultEtcdMaxTxnBytes
	}
	if o.MaxTxnOps <= 0 {
		o.MaxTxnOps = DefaultEtcdMaxTxnOps
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultEtcdPageSize
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 64
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 250 * time.Millisecond
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 2 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: o.Endpoints, TLS: o.TLS, DialTimeout: o.DialTimeout,
		DialKeepAliveTime: 5 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
		// Room for a maximal transaction plus framing.
		MaxCallSendMsgSize: o.MaxTxnBytes + 64<<10,
		Logger:             zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("store: etcd: %w", err)
	}
	e := &Etcd{cli: cli, kv: namespace.NewKV(cli.KV, o.Prefix), opts: o, done: make(chan struct{})}
	// The revision the feed starts from: everything this process reads
	// later is at least this recent.
	cctx, cancel := context.WithTimeout(ctx, o.OpTimeout)
	resp, err := e.kv.Get(cctx, "sys/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("store: etcd %v: %w", o.Endpoints, unavailable(err))
	}
	wctx, stop := context.WithCancel(context.Background())
	e.stop = stop
	e.feed = store.NewFeed(wctx)
	go e.watch(wctx, resp.Header.Revision)
	return e, nil
}

// Feed returns the change feed of every committed write.
func (e *Etcd) Feed() *store.Feed { return e.feed }

// Client returns the etcd client (for tools and tests).
func (e *Etcd) Client() *clientv3.Client { return e.cli }

// View runs fn in a read-only transaction on one store revision.
func (e *Etcd) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.closed.Load() {
		return store.ErrClosed
	}
	tx := &etcdTx{e: e, ctx: ctx}
	defer func() { tx.done = true }()
	return fn(tx)
}

// Update runs fn optimistically and commits its writes in one etcd
// transaction guarded by the revisions of everything fn read; on a
// conflict fn runs again (at most MaxAttempts times, then store.ErrConflict).
func (e *Etcd) Update(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.closed.Load() {
			return store.ErrClosed
		}
		if attempt >= e.opts.MaxAttempts {
			return store.ErrConflict
		}
		if attempt > 0 { // jittered backoff so hot keys make progress
			d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		tx := &etcdTx{e: e, ctx: ctx, writable: true, reads: map[string]int64{}, writes: map[string]*[]byte{}}
		err := func() error {
			defer func() { tx.done = true }()
			return fn(tx)
		}()
		if err != nil {
			return err
		}
		ok, err := tx.commit()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
}

// Close stops the feed and closes the client. Later calls return store.ErrClosed.
func (e *Etcd) Close() error {
	if e.closed.Swap(true) {
		return store.ErrClosed
	}
	e.stop()
	<-e.done
	return e.cli.Close()
}

// opCtx bounds one etcd request.
func (e *Etcd) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.opts.OpTimeout)
}

// unavailable wraps errors that mean "no quorum answered" in
// store.ErrUnavailable; the caller's own cancellation stays as it is.
func unavailable(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge) {
		return fmt.Errorf("%w: %v (the etcd members' --max-txn-ops / --max-request-bytes are below mhsm's --etcd-max-txn-ops / --etcd-max-txn-bytes)", store.ErrTooLarge, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrNoLeader) ||
		errors.Is(err, rpctypes.ErrTimeout) || errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) || errors.Is(err, rpctypes.ErrLeaderChanged) {
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return fmt.Errorf("store: etcd: %w", err)
}
