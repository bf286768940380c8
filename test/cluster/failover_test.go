package cluster

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ledger records the writes the cluster acknowledged, as the client saw
// them; at the end every one must be there, through both nodes.
type ledger struct {
	w     *world
	seq   int
	acked []string
}

// write creates a new key through node i and returns the answer's status.
func (l *ledger) write(i int) int {
	name := fmt.Sprintf("ledger-%04d", l.seq)
	l.seq++
	st, _ := l.w.call(i, "", "POST", "/keys/"+name+"/create?api-version=7.4", ecKey)
	if st == http.StatusOK {
		l.acked = append(l.acked, name)
	}
	return st
}

// mustWrite writes until one write is acknowledged; 503 (an election in
// progress) is the only other answer allowed, for at most 30 s.
func (l *ledger) mustWrite(t *testing.T, phase string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		st := l.write(i % 2)
		if st == http.StatusOK {
			return
		}
		if st != http.StatusServiceUnavailable {
			t.Fatalf("%s: write answered %d, want 200 or 503", phase, st)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no write acknowledged within 30 s", phase)
		}
	}
}

// mustRead lists keys through both nodes (a store read, not a cache hit).
func (l *ledger) mustRead(t *testing.T, phase string) {
	t.Helper()
	for i := range 2 {
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, b := l.w.call(i, "", "GET", "/keys?api-version=7.4&maxresults=25", nil)
			if st == http.StatusOK {
				break
			}
			if st != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("%s: list through node %d = %d %s", phase, i, st, b)
			}
		}
	}
}

// TestEtcdMemberLoss kills the etcd leader, then (with it back) a
// follower: reads and writes keep working through both mhsm nodes. With
// two of three members down every write answers 503 and none is
// acknowledged, and the nodes report not ready. After recovery every
// acknowledged write is there.
func TestEtcdMemberLoss(t *testing.T) {
	w := newWorld(t)
	l := &ledger{w: w}
	for range 4 {
		l.mustWrite(t, "all members up")
	}
	leader := w.etcd.WaitLeader(10 * time.Second)
	if leader < 0 {
		t.Fatal("no etcd leader")
	}
	w.etcd.Stop(leader)
	for range 4 {
		l.mustWrite(t, "leader killed")
	}
	l.mustRead(t, "leader killed")
	if err := w.etcd.Restart(leader); err != nil {
		t.Fatal(err)
	}
	newLeader := w.etcd.WaitLeader(10 * time.Second)
	follower := (newLeader + 1) % 3
	w.etcd.Stop(follower)
	for range 4 {
		l.mustWrite(t, "follower killed")
	}
	l.mustRead(t, "follower killed")

	// Two of three down: no quorum.
	second := (follower + 1) % 3
	w.etcd.Stop(second)
	for i := range 3 {
		if st := l.write(i % 2); st != http.StatusServiceUnavailable {
			t.Fatalf("write without quorum answered %d, want 503", st)
		}
	}
	for i, s := range w.nodes {
		if d := waitStatus(15*time.Second, http.StatusServiceUnavailable, func() int { return ready(s) }); d < 0 {
			t.Fatalf("node %d still reports ready without an etcd quorum", i)
		}
		// A sign-in the store cannot answer (the shared lockout counters,
		// the principal) gets no verdict: 503, not invalid_client.
		_, err := s.DevToken()
		if err == nil || !strings.Contains(err.Error(), "token: 503") || !strings.Contains(err.Error(), "temporarily unavailable; retry") {
			t.Fatalf("node %d: token request without an etcd quorum: %v, want 503 temporarily_unavailable from the store", i, err)
		}
	}
	acked := len(l.acked)

	if err := w.etcd.Restart(follower); err != nil {
		t.Fatal(err)
	}
	if err := w.etcd.Restart(second); err != nil {
		t.Fatal(err)
	}
	for i, s := range w.nodes {
		if d := waitStatus(30*time.Second, http.StatusOK, func() int { return ready(s) }); d < 0 {
			t.Fatalf("node %d not ready 30 s after the quorum came back", i)
		}
	}
	l.mustWrite(t, "recovered")
	if acked != 12 || len(l.acked) != 13 {
		t.Fatalf("ledger holds %d then %d acknowledged writes, want 12 then 13", acked, len(l.acked))
	}
	for _, name := range l.acked {
		for i := range 2 {
			if st, b := w.call(i, "", "GET", "/keys/"+name+"?api-version=7.4", nil); st != http.StatusOK {
				t.Fatalf("acknowledged key %s through node %d: %d %s", name, i, st, b)
			}
		}
	}
}
