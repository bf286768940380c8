package config

import (
	"errors"
	"fmt"
	"net/url"
)

// Store backends.
const (
	StoreBolt = "bolt" // <DataDir>/mhsm.db, one process (the default)
	StoreEtcd = "etcd" // an etcd v3 cluster shared by several mhsm nodes
)

// Etcd configures the etcd store (Store = "etcd"). Every mhsm node of a
// cluster uses the same endpoints, prefix and root key (RootKeyFile).
type Etcd struct {
	// Endpoints are the client URLs of the etcd members
	// (http://host:2379 or https://…). Required.
	Endpoints []string
	// CAFile verifies the members' certificates; CertFile and KeyFile are
	// this node's client certificate. Empty: the system roots, no client
	// certificate. CertFile and KeyFile go together.
	CAFile, CertFile, KeyFile string
	// Prefix namespaces mhsm's keys; empty means "mhsm/".
	Prefix string
	// MaxTxnBytes and MaxTxnOps bound one transaction; 0 means 1.5 MiB
	// (etcd's --max-request-bytes default) and 4096 (the members must run
	// with --max-txn-ops 4096 or more). Change them only together with the
	// members' flags.
	MaxTxnBytes, MaxTxnOps int
}

func (c *Server) validateStore() []error {
	var errs []error
	switch c.Store {
	case "", StoreBolt:
		if len(c.Etcd.Endpoints) > 0 {
			errs = append(errs, errors.New("etcd endpoints are set but the store is not etcd (use --store etcd)"))
		}
	case StoreEtcd:
		if len(c.Etcd.Endpoints) == 0 {
			errs = append(errs, errors.New("store etcd needs --etcd-endpoints"))
		}
		for _, e := range c.Etcd.Endpoints {
			if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("etcd endpoint %q must be an http:// or https:// URL", e))
			}
		}
		if (c.Etcd.CertFile == "") != (c.Etcd.KeyFile == "") {
			errs = append(errs, errors.New("etcd-cert and etcd-key go together"))
		}
		if c.Etcd.MaxTxnBytes < 0 || c.Etcd.MaxTxnOps < 0 {
			errs = append(errs, errors.New("etcd transaction limits must not be negative"))
		}
	default:
		errs = append(errs, fmt.Errorf("store %q: want %q or %q", c.Store, StoreBolt, StoreEtcd))
	}
	return errs
}
