// Package etcdtest starts a real etcd cluster for tests: n members of the
// etcd server (go.etcd.io/etcd/server/v3/embed, the same code as the etcd
// binary) in this process, on loopback ports, each with its own data dir.
// Members can be stopped (a crash as far as the others can tell: the
// listeners close) and restarted on the same data and ports. Read
// etcdtest.go.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Cluster is a running etcd cluster.
type Cluster struct {
	t       testing.TB
	mu      sync.Mutex
	members []*member
	initial string
}

type member struct {
	name       string
	dir        string
	peer, cl   url.URL
	e          *embed.Etcd
	maxTxnOps  uint
	maxReqSize uint
}

// Options tune Start. A zero MaxTxnOps means 4096 (what mhsm needs, see
// etcd.DefaultEtcdMaxTxnOps); a zero MaxRequestBytes is etcd's default.
type Options struct {
	MaxTxnOps       uint
	MaxRequestBytes uint
}

// Start starts an n-member cluster, waits until it has a leader, and
// stops it when the test ends.
func Start(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	var initial []string
	for i := range n {
		m := &member{name: fmt.Sprintf("m%d", i), dir: t.TempDir(), maxTxnOps: o.MaxTxnOps, maxReqSize: o.MaxRequestBytes}
		m.peer = url.URL{Scheme: "http", Host: freeAddr(t)}
		m.cl = url.URL{Scheme: "http", Host: freeAddr(t)}
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peer.String())
	}
	c.initial = strings.Join(initial, ",")
	errs := make(chan error, n)
	for _, m := range c.members {
		go func() { errs <- c.start(m, embed.ClusterStateFlagNew) }()
	}
	for range n {
		if err := <-errs; err != nil {
			c.Close()
			t.Fatalf("etcdtest: %v", err)
		}
	}
	t.Cleanup(c.Close)
	return c
}

func (c *Cluster) start(m *member, state string) error {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.ListenPeerUrls = []url.URL{m.peer}
	cfg.AdvertisePeerUrls = []url.URL{m.peer}
	cfg.ListenClientUrls = []url.URL{m.cl}
	cfg.AdvertiseClientUrls = []url.URL{m.cl}
	cfg.InitialCluster = c.initial
	cfg.InitialClusterToken = "mhsm-test"
	cfg.ClusterState = state
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop()) // shutdown errors are noise here
	cfg.MaxTxnOps = 4096
	if m.maxTxnOps > 0 {
		cfg.MaxTxnOps = m.maxTxnOps
	}
	if m.maxReqSize > 0 {
		cfg.MaxRequestBytes = m.maxReqSize
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("member %s: %w", m.name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("member %s: %w", m.name, err)
	case <-time.After(60 * time.Second):
		e.Close()
		return fmt.Errorf("member %s: not ready after 60s", m.name)
	}
	c.mu.Lock()
	m.e = e
	c.mu.Unlock()
	return nil
}

// Endpoints returns every member's client URL (running or not).
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.members {
		out = append(out, m.cl.String())
	}
	return out
}

// Leader returns the index of the member that is leader, or -1.
func (c *Cluster) Leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.members {
		if m.e != nil && m.e.Server.Leader() == m.e.Server.MemberID() {
			return i
		}
	}
	return -1
}

// WaitLeader waits up to d for a leader and returns its index, or -1.
func (c *Cluster) WaitLeader(d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		if l := c.Leader(); l >= 0 || time.Now().After(deadline) {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Running reports whether member i runs.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].e != nil
}

// Stop stops member i; its data stays.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	e := c.members[i].e
	c.members[i].e = nil
	c.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// Restart starts the stopped member i again on its data and ports. It
// waits for the member to be ready, which needs a quorum.
func (c *Cluster) Restart(i int) error {
	return c.start(c.members[i], embed.ClusterStateFlagExisting)
}

// Member returns the embedded server of member i, nil when stopped.
func (c *Cluster) Member(i int) *embed.Etcd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].e
}

// Close stops every member.
func (c *Cluster) Close() {
	for i := range c.members {
		c.Stop(i)
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
