package etcd

import (
	"github.com/mhsm/mhsm/internal/store"

	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdTx is one attempt of a View or Update on Etcd. Reads are served at
// rev, fixed by the first read; an Update's writes are buffered in writes
// (nil value pointer: delete) and its reads remembered for the commit's
// guard: each key's mod revision (0: absent), and each listed range.
type etcdTx struct {
	e        *Etcd
	ctx      context.Context
	writable bool
	done     bool
	rev      int64
	reads    map[string]int64
	ranges   [][2]string // [start, end) listed
	writes   map[string]*[]byte
}

// get reads at the transaction's revision. The first read is
// linearizable and fixes the revision; later ones are served by whichever
// member answers from its own copy at that revision (serializable: no
// round through the leader), or linearizably if that member has not yet
// applied it.
func (t *etcdTx) get(opts []clientv3.OpOption, key string) (*clientv3.GetResponse, error) {
	ctx, cancel := t.e.opCtx(t.ctx)
	defer cancel()
	var resp *clientv3.GetResponse
	var err error
	if t.rev > 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
		resp, err = t.e.kv.Get(ctx, key, append(opts, clientv3.WithSerializable())...)
		if errors.Is(err, rpctypes.ErrFutureRev) {
			resp, err = t.e.kv.Get(ctx, key, opts...)
		}
	} else {
		resp, err = t.e.kv.Get(ctx, key, opts...)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

// Get returns key's value at the snapshot, or the transaction's own write.
func (t *etcdTx) Get(key string) ([]byte, error) {
	if t.done {
		return nil, store.ErrTxDone
	}
	if w, ok := t.writes[key]; ok {
		if w == nil {
			return nil, store.ErrNotFound
		}
		return store.CloneBytes(*w), nil
	}
	if key == "" {
		return nil, store.ErrNotFound
	}
	resp, err := t.get(nil, key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		t.noteRead(key, 0)
		return nil, store.ErrNotFound
	}
	t.noteRead(key, resp.Kvs[0].ModRevision)
	return store.CloneBytes(resp.Kvs[0].Value), nil
}

func (t *etcdTx) noteRead(key string, modRev int64) {
	if t.writable {
		t.reads[key] = modRev
	}
}

// Put buffers key=value until the commit.
func (t *etcdTx) Put(key string, value []byte) error {
	if t.done {
		return store.ErrTxDone
	}
	if !t.writable {
		return store.ErrReadOnly
	}
	if key == "" {
		return store.ErrEmptyKey
	}
	v := store.CloneBytes(value)
	t.writes[key] = &v
	return nil
}

// Delete buffers the removal of key until the commit.
func (t *etcdTx) Delete(key string) error {
	if t.done {
		return store.ErrTxDone
	}
	if !t.writable {
		return store.ErrReadOnly
	}
	if key == "" {
		return nil
	}
	t.writes[key] = nil
	return nil
}

// List pages through [start, end of prefix) at the snapshot, PageSize keys
// per request, merging the transaction's own writes, until limit pairs are
// found or the range ends.
func (t *etcdTx) List(prefix, after string, limit int) ([]store.KV, error) {
	if t.done {
		return nil, store.ErrTxDone
	}
	start := prefix
	if after != "" && after >= prefix {
		start = after + "\x00"
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	if prefix == "" {
		end = "\x00" // the whole (namespaced) keyspace
	}
	if prefix == "" && start == "" {
		start = "\x00"
	}
	var out []store.KV
	cur := start
	for {
		resp, err := t.get([]clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(int64(t.e.opts.PageSize))}, cur)
		if err != nil {
			return nil, err
		}
		stored := resp.Kvs
		// hi is the last key this page covers (inclusive); past it the
		// store has not been read yet.
		hi, last := "", !resp.More || len(stored) == 0
		if !last {
			hi = string(stored[len(stored)-1].Key)
		}
		page := make([]store.KV, 0, len(stored))
		for _, kv := range stored {
			k := string(kv.Key)
			t.noteRead(k, kv.ModRevision)
			if _, overwritten := t.writes[k]; overwritten {
				continue
			}
			page = append(page, store.KV{Key: k, Value: store.CloneBytes(kv.Value)})
		}
		for k, w := range t.writes { // own writes inside this page's span
			if w != nil && k >= cur && strings.HasPrefix(k, prefix) && (last || k <= hi) && (end == "\x00" || k < end) {
				page = append(page, store.KV{Key: k, Value: store.CloneBytes(*w)})
			}
		}
		sort.Slice(page, func(i, j int) bool { return page[i].Key < page[j].Key })
		out = append(out, page...)
		if limit > 0 && len(out) >= limit {
			out = out[:limit]
			t.noteRange(start, out[len(out)-1].Key+"\x00")
			return out, nil
		}
		if last {
			t.noteRange(start, end)
			return out, nil
		}
		cur = hi + "\x00"
	}
}

func (t *etcdTx) noteRange(start, end string) {
	if t.writable {
		t.ranges = append(t.ranges, [2]string{start, end})
	}
}

// commit applies the buffered writes if nothing read changed since rev.
// It reports false on a conflict.
func (t *etcdTx) commit() (bool, error) {
	if len(t.writes) == 0 {
		return true, nil // read-only: the snapshot was consistent
	}
	var cmps []clientv3.Cmp
	for k, mod := range t.reads {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", mod))
	}
	for _, r := range t.ranges {
		// No key of the range was created or changed after the snapshot;
		// deletions are caught by the per-key guards above.
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(r[0]), "<", t.rev+1).WithRange(r[1]))
	}
	keys := make([]string, 0, len(t.writes))
	for k := range t.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ops := make([]clientv3.Op, 0, len(keys))
	size := 0
	for _, k := range keys {
		size += len(k) + 16
		if w := t.writes[k]; w != nil {
			size += len(*w)
			ops = append(ops, clientv3.OpPut(k, string(*w)))
		} else {
			ops = append(ops, clientv3.OpDelete(k))
		}
	}
	for k := range t.reads {
		size += len(k) + 16
	}
	if len(ops) > t.e.opts.MaxTxnOps || len(cmps) > t.e.opts.MaxTxnOps {
		return false, fmt.Errorf("%w: %d writes and %d read guards (limit %d each; raise etcd's --max-txn-ops and --etcd-max-txn-ops together)",
			store.ErrTooLarge, len(ops), len(cmps), t.e.opts.MaxTxnOps)
	}
	if size > t.e.opts.MaxTxnBytes {
		return false, fmt.Errorf("%w: %d bytes (limit %d; raise etcd's --max-request-bytes and --etcd-max-txn-bytes together)",
			store.ErrTooLarge, size, t.e.opts.MaxTxnBytes)
	}
	ctx, cancel := t.e.opCtx(t.ctx)
	defer cancel()
	resp, err := t.e.kv.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return false, unavailable(err)
	}
	return resp.Succeeded, nil
}
