// Package cluster tests several mhsm nodes sharing one etcd cluster: a
// real 3-member etcd (etcdtest, the etcd server code embedded) and two
// in-process mhsm nodes (testserver) with the same root key, each with its
// own listener, TLS material, audit directory and caches. Clients talk to
// the nodes over HTTPS as Azure clients do. Read harness_test.go first.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/store/etcdtest"
	"github.com/mhsm/mhsm/internal/testserver"
)

// world is 3 etcd members and 2 mhsm nodes.
type world struct {
	etcd  *etcdtest.Cluster
	nodes []*testserver.Server
	toks  []string // the dev principal's data-plane token, per node (each node is its own issuer URL)
}

var worlds atomic.Int64

// etcdNode configures an mhsm node on c, with the shared root key.
func etcdNode(c *etcdtest.Cluster, rootKey, prefix string) func(*config.Server) {
	return func(cfg *config.Server) {
		testserver.WithEtcd(c.Endpoints(), prefix, rootKey)(cfg)
		cfg.OpsAddr = "127.0.0.1:0"
		// The throttle is per node and not what these tests are about.
		cfg.ThrottleHSMRate, cfg.ThrottlePrincipalRate = 0, 0
	}
}

// newWorld starts the etcd cluster and two mhsm nodes on it. Node 0 starts
// first and makes the dev tenant, principal and HSM; node 1 finds them.
func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{etcd: etcdtest.Start(t, 3, etcdtest.Options{})}
	rootKey := filepath.Join(t.TempDir(), "root.key")
	if _, err := barrier.LoadOrCreateRootKey(rootKey); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("w%d/", worlds.Add(1))
	for range 2 {
		s := testserver.Start(t, etcdNode(w.etcd, rootKey, prefix))
		tok, err := s.DevToken()
		if err != nil {
			t.Fatal(err)
		}
		w.nodes = append(w.nodes, s)
		w.toks = append(w.toks, tok)
	}
	if w.nodes[0].Dev.ClientID != w.nodes[1].Dev.ClientID {
		t.Fatalf("the nodes disagree on the dev principal: %s vs %s", w.nodes[0].Dev.ClientID, w.nodes[1].Dev.ClientID)
	}
	return w
}

// call makes a data-plane request on the dev HSM through node i.
func (w *world) call(i int, tok, method, path string, body any) (int, []byte) {
	if tok == "" {
		tok = w.toks[i]
	}
	s := w.nodes[i]
	st, b, err := s.Call(tok, method, s.HSMURL("dev")+path, body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return st, b
}

// mustCall is call that fails the test unless the status is want.
func (w *world) mustCall(t testing.TB, i int, tok, method, path string, body any, want int) []byte {
	t.Helper()
	st, b := w.call(i, tok, method, path, body)
	if st != want {
		t.Fatalf("node %d %s %s = %d %s, want %d", i, method, path, st, b, want)
	}
	return b
}

// signBody is an ES256 sign request over a random digest.
func signBody() map[string]any {
	d := make([]byte, 32)
	_, _ = rand.Read(d)
	return map[string]any{"alg": "ES256", "value": base64.RawURLEncoding.EncodeToString(d)}
}

// ecKey is the body creating an EC P-256 key (cheap to generate).
var ecKey = map[string]any{"kty": "EC-HSM", "crv": "P-256"}

// waitStatus polls fn until it returns want, for at most d, and returns
// how long that took, or -1.
func waitStatus(d time.Duration, want int, fn func() int) time.Duration {
	start := time.Now()
	for time.Since(start) < d {
		if fn() == want {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return -1
}

// ready reports the node's /readyz status.
func ready(s *testserver.Server) int {
	addr := s.App.OpsAddr()
	if addr == nil {
		return 0
	}
	resp, err := http.Get("http://" + addr.String() + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

var bg = context.Background()
