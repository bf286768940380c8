package cluster

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/store/etcdtest"
)

// TestKillNodeMidLoad runs two mhsm nodes as processes on the etcd
// cluster, puts them under a write load from clients that retry on the
// other node when theirs fails, and SIGKILLs node A in the middle. Nothing
// acknowledged may be lost, and after A restarts on its data dir (which
// checkpoints the tail of its audit chains) and both stop, every node's
// audit chains verify with `mhsm audit verify`.
func TestKillNodeMidLoad(t *testing.T) {
	bin := mhsmBinary(t)
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	rootKey := filepath.Join(t.TempDir(), "root.key")
	if _, err := barrier.LoadOrCreateRootKey(rootKey); err != nil {
		t.Fatal(err)
	}
	args := []string{"--store", "etcd", "--etcd-endpoints", strings.Join(c.Endpoints(), ","),
		"--etcd-prefix", fmt.Sprintf("kill%d/", worlds.Add(1)), "--root-key-file", rootKey,
		"--throttle-hsm-rate", "0", "--throttle-principal-rate", "0"}
	nodes := []*proc{startProc(t, bin, t.TempDir(), args...)}
	nodes = append(nodes, startProc(t, bin, t.TempDir(), args...))
	defer func() {
		for _, p := range nodes {
			select {
			case <-p.exited:
			default:
				p.kill()
			}
		}
	}()

	var mu sync.Mutex
	var acked []string
	var failovers int
	killed := make(chan struct{})
	const clients, perClient = 4, 30
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				name := fmt.Sprintf("load-%d-%03d", cl, i)
				node := (cl + i) % 2
				for try := 0; ; try++ {
					st, b, err := nodes[node].call("POST", "/keys/"+name+"/create?api-version=7.4", ecKey)
					if err == nil && st == http.StatusOK {
						mu.Lock()
						acked = append(acked, name)
						mu.Unlock()
						break
					}
					if err == nil && st != http.StatusServiceUnavailable {
						t.Errorf("create %s through node %d: %d %s", name, node, st, b)
						return
					}
					if try > 20 {
						t.Errorf("create %s: no node answered after %d tries (last: %v)", name, try, err)
						return
					}
					// No answer, or 503: retry on the other node.
					mu.Lock()
					failovers++
					mu.Unlock()
					node = 1 - node
					time.Sleep(20 * time.Millisecond)
				}
				if cl == 0 && i == perClient/3 {
					nodes[0].kill()
					close(killed)
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("node A was never killed")
	}
	t.Logf("%d writes acknowledged, %d retried on the other node after node A's SIGKILL", len(acked), failovers)
	if len(acked) != clients*perClient {
		t.Fatalf("%d of %d writes acknowledged", len(acked), clients*perClient)
	}
	for _, name := range acked {
		if st, b, err := nodes[1].call("GET", "/keys/"+name+"?api-version=7.4", nil); err != nil || st != http.StatusOK {
			t.Fatalf("acknowledged key %s: %d %s %v", name, st, b, err)
		}
	}
	// Node A comes back on its data dir and sees what B wrote meanwhile.
	if err := nodes[0].start(bin); err != nil {
		t.Fatal(err)
	}
	if st, b, err := nodes[0].call("GET", "/keys/"+acked[len(acked)-1]+"?api-version=7.4", nil); err != nil || st != http.StatusOK {
		t.Fatalf("restarted node A reading the last acknowledged key: %d %s %v", st, b, err)
	}
	for _, p := range nodes {
		if err := p.stop(); err != nil {
			t.Fatal(err)
		}
	}
	// Every node's chains verify, and merged per HSM over both nodes.
	out, err := exec.Command(bin, "audit", "verify", "--dir", filepath.Join(nodes[0].dir, "audit"),
		"--dir", filepath.Join(nodes[1].dir, "audit")).CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify of both nodes: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "dev (merged, 2 nodes): OK") {
		t.Fatalf("audit verify reports no merged, verified dev log over 2 nodes:\n%s", out)
	}
	t.Logf("audit verify of both nodes:\n%s", out)
}
