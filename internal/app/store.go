package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"

	"go.etcd.io/etcd/client/pkg/v3/transport"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/store/etcd"
)

// openStore opens the configured backend as a Watchable: bbolt (or, for an
// ephemeral dev server, memory: config.Validate refuses Ephemeral without
// Dev) wrapped in the in-process change feed, or etcd with its watch.
// feedCtx bounds the in-process feed's goroutine.
func openStore(ctx, feedCtx context.Context, cfg *config.Server) (store.Watchable, error) {
	if cfg.Ephemeral && cfg.Store != config.StoreEtcd {
		return store.Notify(feedCtx, store.NewMemory()), nil
	}
	if cfg.Store != config.StoreEtcd {
		b, err := store.OpenBolt(filepath.Join(cfg.DataDir, "mhsm.db"))
		if err != nil {
			return nil, err
		}
		return store.Notify(feedCtx, b), nil
	}
	var tlsCfg *tls.Config
	e := cfg.Etcd
	if e.CAFile != "" || e.CertFile != "" {
		info := transport.TLSInfo{CertFile: e.CertFile, KeyFile: e.KeyFile, TrustedCAFile: e.CAFile}
		var err error
		if tlsCfg, err = info.ClientConfig(); err != nil {
			return nil, fmt.Errorf("etcd tls: %w", err)
		}
	}
	return etcd.OpenEtcd(ctx, etcd.EtcdOptions{Endpoints: e.Endpoints, TLS: tlsCfg, Prefix: e.Prefix,
		MaxTxnBytes: e.MaxTxnBytes, MaxTxnOps: e.MaxTxnOps})
}

// followStore subscribes every cache of the node to the store's change
// feed, then resets them once: whatever changed between opening the store
// and subscribing is read again.
func (a *App) followStore() {
	feed := a.st.Feed()
	issuer := a.identity.issuer
	feed.Subscribe(func(c store.Change) {
		a.hsms.ApplyChange(a.tickCtx, c)
		a.dir.ApplyChange(c)
		issuer.ApplyChange(c)
		if a.mgmt != nil {
			_ = a.mgmt.ApplyChange(a.tickCtx, c)
		}
	})
	feed.Publish(store.Change{Reset: true})
}

// StoreFeed returns the store's change feed (for tests and tools).
func (a *App) StoreFeed() *store.Feed { return a.st.Feed() }

// OpsAddr is the bound address of the ops listener (/healthz, /readyz,
// /metrics), or nil when there is none.
func (a *App) OpsAddr() net.Addr {
	if a.opsLn == nil {
		return nil
	}
	return a.opsLn.Addr()
}
