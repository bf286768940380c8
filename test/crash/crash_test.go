// Package crash is the kill -9 harness: it runs the mhsm binary as a child
// process, drives a write load through HTTPS while a client-side oracle
// records every acknowledged response, kills the child with SIGKILL at
// random points, restarts it and checks that nothing acknowledged was
// lost, nothing was half-applied, and bbolt's consistency check passes
// on the file the dead process left. Read crash_test.go, then
// oracle_test.go and verify_test.go.
//
// The normal suite runs a short version; scripts/crash.sh -cycles 200
// runs the nightly size and writes a JSON report.
package crash

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

var (
	cycles   = flag.Int("cycles", 5, "kill/restart cycles")
	workers  = flag.Int("workers", 4, "concurrent writers, each owning 4 keys")
	maxLoad  = flag.Duration("max-load", 1200*time.Millisecond, "longest load before a kill")
	reportTo = flag.String("report-dir", "", "write crash.json and first-start.json to this directory")
	seedFlag = flag.Uint64("seed", 0, "random seed (0: time-based)")
)

// Report is what a run measured.
type Report struct {
	Cycles        int     `json:"cycles"`
	FIPSCycles    int     `json:"fipsCycles"`
	Workers       int     `json:"workers"`
	Seed          uint64  `json:"seed"`
	AckedWrites   int     `json:"ackedWrites"`
	PendingWrites int     `json:"pendingWrites"`
	Lost          int     `json:"lost"`
	Unexpected    int     `json:"unexpected"`
	HalfApplied   int     `json:"halfApplied"`
	Diverged      int     `json:"diverged"`
	CheckFailures int     `json:"storeCheckFailures"`
	MaxReadyMs    float64 `json:"maxRestartToReadyMs"`
	MeanReadyMs   float64 `json:"meanRestartToReadyMs"`
	ECCreateMs    float64 `json:"ecP256CreateMeanMs"`
	ECCreateFIPS  float64 `json:"ecP256CreateMeanMsFIPS"`
	RSACreateMs   float64 `json:"rsa2048CreateMeanMs"`
	RSACreateFIPS float64 `json:"rsa2048CreateMeanMsFIPS"`
	FIPSHealth    string  `json:"fipsHealth"`
	Seconds       float64 `json:"seconds"`
}

func TestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d, %d cycles", seed, *cycles)
	bin, dir, addr := mhsmBinary(t), t.TempDir(), freeAddr(t)
	ws := make([]*worker, *workers)
	for i := range ws {
		ws[i] = newWorker(i, seed)
	}
	rep := Report{Cycles: *cycles, Workers: *workers, Seed: seed}
	began := time.Now()
	var readySum float64
	for c := 0; c <= *cycles; c++ {
		var env []string
		fips := c == 1 || (*cycles > 2 && c%50 == 49) // at least one cycle, and one in 50, in FIPS mode
		if fips {
			env = []string{"GODEBUG=fips140=on"}
			rep.FIPSCycles++
		}
		p, err := startProc(t, bin, dir, addr, env)
		if err != nil {
			t.Fatalf("cycle %d: restart: %v", c, err)
		}
		ready := float64(p.Ready.Microseconds()) / 1000
		readySum += ready
		rep.MaxReadyMs = max(rep.MaxReadyMs, ready)
		if principal == "" {
			principal = devPrincipal(t, p)
		}
		if x := x25519Accepted(p); x == fips {
			t.Errorf("cycle %d (fips140=on: %v): an X25519-only TLS handshake was accepted: %v", c, fips, x)
		} else if fips {
			rep.FIPSHealth = "confirmed: X25519-only TLS handshake refused"
		}
		verifyAll(t, c, p, ws, &rep)
		if c == *cycles { // the last start only verifies, then stops cleanly
			if err := p.stop(); err != nil {
				t.Error(err)
			}
			rep.CheckFailures += checkStore(t, dir)
			break
		}
		if timing := c == 2 || *cycles < 3 && c == 0; timing || fips {
			ec, rsa := timeCreates(t, p, fmt.Sprintf("timing-c%d", c))
			if fips {
				rep.ECCreateFIPS, rep.RSACreateFIPS = ec, rsa
			} else {
				rep.ECCreateMs, rep.RSACreateMs = ec, rsa
			}
		}
		load := time.Duration(50+rng.IntN(int(*maxLoad/time.Millisecond))) * time.Millisecond
		runLoad(p, ws, load)
		rep.CheckFailures += checkStore(t, dir)
	}
	for _, w := range ws {
		rep.AckedWrites += w.acked
		rep.Diverged += len(w.diverged)
		for _, d := range w.diverged {
			t.Errorf("worker %d: acknowledged result the oracle did not predict: %s", w.id, d)
		}
	}
	rep.PendingWrites = pendingCount
	rep.MeanReadyMs = readySum / float64(*cycles+1)
	rep.Seconds = time.Since(began).Seconds()
	t.Logf("report: %+v", rep)
	writeReport(t, "crash.json", rep)
	if rep.AckedWrites == 0 {
		t.Error("no write was acknowledged: the load did not run")
	}
}

var pendingCount int

// verifyAll checks every worker's keys and assignments against the oracle
// after a restart and counts what it found.
func verifyAll(t *testing.T, cycle int, p *proc, ws []*worker, rep *Report) {
	t.Helper()
	var f findings
	for _, w := range ws {
		wf, err := w.verify(p)
		if err != nil {
			p.kill()
			t.Fatalf("cycle %d: verify: %v", cycle, err)
		}
		f.add(wf)
	}
	for kind, msgs := range map[string][]string{"LOST": f.Lost, "UNEXPECTED": f.Unexpected, "HALF-APPLIED": f.Half} {
		for _, m := range msgs {
			t.Errorf("cycle %d: %s: %s", cycle, kind, m)
		}
	}
	rep.Lost += len(f.Lost)
	rep.Unexpected += len(f.Unexpected)
	rep.HalfApplied += len(f.Half)
}

// runLoad runs every worker against p and kills p after d.
func runLoad(p *proc, ws []*worker, d time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if !w.do(ctx, p, w.next()) {
					return
				}
			}
		}()
	}
	time.Sleep(d)
	p.kill()
	wg.Wait()
	cancel()
	for _, w := range ws {
		if w.pending != nil {
			pendingCount++
		}
	}
}

// writeReport writes v as JSON into the -report-dir directory, if set.
func writeReport(t *testing.T, name string, v any) {
	t.Helper()
	if *reportTo == "" {
		return
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(filepath.Join(*reportTo, name), append(b, '\n'), 0o644); err != nil {
		t.Error(err)
	}
}

// timeCreates measures the mean latency of creating EC P-256 and RSA-2048
// keys (new names, outside the oracle), to show what FIPS mode costs.
func timeCreates(t *testing.T, p *proc, prefix string) (ecMs, rsaMs float64) {
	t.Helper()
	mean := func(kind string, n int, body map[string]any) float64 {
		start := time.Now()
		for i := range n {
			st, b, err := p.call(context.Background(), "POST", fmt.Sprintf("/keys/%s-%s-%d/create", prefix, kind, i), body)
			if err != nil || st != 200 {
				t.Fatalf("timing create: %d %s %v", st, b, err)
			}
		}
		return float64(time.Since(start).Microseconds()) / 1000 / float64(n)
	}
	return mean("ec", 50, map[string]any{"kty": "EC-HSM", "crv": "P-256"}), mean("rsa", 8, map[string]any{"kty": "RSA-HSM", "key_size": 2048})
}

// checkStore opens the dead process's database directly and runs bbolt's
// consistency check; it returns 1 on failure.
func checkStore(t *testing.T, dir string) int {
	t.Helper()
	b, err := store.OpenBoltWithOptions(filepath.Join(dir, "mhsm.db"), store.BoltOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Errorf("open store after kill: %v", err)
		return 1
	}
	defer b.Close()
	if err := b.Check(); err != nil {
		t.Errorf("store check after kill: %v", err)
		return 1
	}
	return 0
}

// devPrincipal is the object id of the dev service principal, read from
// its role assignment at "/".
func devPrincipal(t *testing.T, p *proc) string {
	t.Helper()
	st, b, err := p.call(context.Background(), "GET", "/providers/Microsoft.Authorization/roleAssignments", nil)
	var list struct {
		Value []struct {
			Properties struct {
				PrincipalID string `json:"principalId"`
			} `json:"properties"`
		} `json:"value"`
	}
	if err != nil || st != 200 || json.Unmarshal(b, &list) != nil || len(list.Value) == 0 {
		t.Fatalf("list role assignments: %d %s %v", st, b, err)
	}
	return list.Value[0].Properties.PrincipalID
}

// x25519Accepted reports whether the child completes a TLS handshake
// offering only X25519. Go's FIPS mode (GODEBUG=fips140=on) limits TLS
// to approved key exchanges, which X25519 is not, so a child in FIPS mode
// refuses it and one outside accepts it: this tells from outside which
// mode the process really runs in.
func x25519Accepted(p *proc) bool {
	pool := p.client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	host := strings.TrimPrefix(strings.TrimSuffix(p.dev.HSMURL, "/"), "https://")
	host, _, _ = strings.Cut(host, ":")
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.addr, &tls.Config{
		RootCAs: pool, ServerName: host, CurvePreferences: []tls.CurveID{tls.X25519}, MaxVersion: tls.VersionTLS13})
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

var firstStarts = flag.Int("first-starts", 8, "kills during a first start (dev-mode provisioning)")

// startRaw starts the child without waiting for it.
func startRaw(t *testing.T, bin, dir, addr string) *proc {
	t.Helper()
	p := &proc{addr: addr, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "server", "--dev", "--data-dir", dir, "--addr", addr)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	return p
}

// waitFile polls for path every millisecond and returns when it exists.
func waitFile(path string, limit time.Duration) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	return false
}

// TestKillDuringFirstStart kills the child while it provisions a new data
// dir (root key, store, TLS material, then the dev tenant, principal and
// HSM in several transactions) and checks that the next start still comes
// up and serves. Half the kills land anywhere in the first start, half in
// the provisioning phase after the TLS material is written, whose length
// a calibration start measures.
func TestKillDuringFirstStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	bin := mhsmBinary(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	cal := t.TempDir()
	start := time.Now()
	c := startRaw(t, bin, cal, freeAddr(t))
	if !waitFile(filepath.Join(cal, "tls", "server.pem"), 30*time.Second) {
		t.Fatal("calibration: no TLS material")
	}
	tls := time.Since(start)
	if !waitFile(filepath.Join(cal, "dev.json"), 30*time.Second) {
		t.Fatal("calibration: no dev.json")
	}
	total, prov := time.Since(start), time.Since(start)-tls
	c.kill()
	t.Logf("first start %v, provisioning after TLS %v", total, prov)
	var rep struct {
		Kills         int `json:"kills"`
		FailedStarts  int `json:"failedRestarts"`
		FailedServing int `json:"failedServing"`
	}
	defer func() { writeReport(t, "first-start.json", rep) }()
	for i := range *firstStarts {
		dir, addr := t.TempDir(), freeAddr(t)
		began := time.Now()
		p := startRaw(t, bin, dir, addr)
		if i%2 == 1 && waitFile(filepath.Join(dir, "tls", "server.pem"), 30*time.Second) {
			time.Sleep(time.Duration(rng.Int64N(int64(prov) + 1)))
		} else {
			time.Sleep(time.Duration(rng.Int64N(int64(total) + 1)))
		}
		after := time.Since(began)
		p.kill()
		rep.Kills++
		q, err := startProc(t, bin, dir, addr, nil)
		if err != nil {
			t.Errorf("start %d: killed %v into the first start, the next start fails: %v", i, after, err)
			rep.FailedStarts++
			continue
		}
		if st, b, err := q.call(context.Background(), "POST", "/keys/k/create", map[string]any{"kty": "oct-HSM"}); err != nil || st != 200 {
			t.Errorf("start %d: killed %v into the first start, then: create %d %s %v", i, after, st, b, err)
			rep.FailedServing++
		}
		_ = q.stop()
	}
}
