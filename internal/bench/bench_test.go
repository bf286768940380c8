package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// startServer starts a dev-mode server with the admission limits out of
// reach (as `mhsm bench --self` does) and returns its Target.
func startServer(tb testing.TB) *Target {
	tb.Helper()
	s := testserver.Start(tb, func(c *config.Server) {
		c.ThrottleCapacity, c.ThrottleHSMRate, c.ThrottlePrincipalRate = 0, 1e12, 1e12
	})
	t, err := TargetFromDev(s.Dev, s.Addr)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// TestRunSmoke runs the whole tool briefly: two operations, one
// connection, every phase, the profile breakdown and every output format.
func TestRunSmoke(t *testing.T) {
	target := startServer(t)
	ops, err := SelectOperations("key-get,es256-sign")
	if err != nil {
		t.Fatal(err)
	}
	profile := flag.Lookup("test.cpuprofile") == nil || flag.Lookup("test.cpuprofile").Value.String() == ""
	rep, err := Run(context.Background(), Config{Target: target, Ops: ops, Conns: 1, Duration: 300 * time.Millisecond,
		Warmup: 50 * time.Millisecond, Profile: profile})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Full.N == 0 || r.Full.Errors != 0 || r.Half == nil || r.Half.N == 0 {
			t.Errorf("%s: %+v half %+v", r.Op, r.Full, r.Half)
		}
		if profile && (r.Profile == nil || r.Profile.ServerUsPerOp <= 0 || len(r.Profile.Layers) == 0) {
			t.Errorf("%s: no profile breakdown: %+v", r.Op, r.Profile)
		}
	}
	if rep.Results[1].RawOpsPerSec <= 0 || rep.Results[1].VsFloor <= 0 {
		t.Errorf("es256-sign has no raw ceiling or floor ratio: %+v", rep.Results[1])
	}
	var names []string
	for _, g := range rep.Goals {
		names = append(names, g.Name)
	}
	if !strings.Contains(strings.Join(names, "\n"), "ES256 sign: full stack / floor") {
		t.Errorf("goals: %q", names)
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil || !strings.Contains(out.String(), "es256-sign") {
		t.Errorf("table: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := rep.WriteMarkdown(&out); err != nil || !strings.Contains(out.String(), "| ES256 sign (P-256) |") {
		t.Errorf("markdown: %v\n%s", err, out.String())
	}
	if err := rep.WriteProfiles(&out); err != nil {
		t.Error(err)
	}
	out.Reset()
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back.Results) != 2 {
		t.Errorf("json round trip: %v", err)
	}
}

func TestCategorize(t *testing.T) {
	for _, c := range []struct {
		stack []string
		want  string
	}{
		{[]string{"crypto/internal/fips140/bigmod.montgomeryLoop", "crypto/rsa.SignPKCS1v15", "github.com/mhsm/mhsm/internal/keys.(*Material).rsaSign",
			"github.com/mhsm/mhsm/internal/hsm.(*Service).Sign", "github.com/mhsm/mhsm/internal/httpapi.(*Server).guard", "net/http.(*conn).serve"}, "key crypto"},
		{[]string{"runtime.mallocgc", "encoding/json.(*decodeState).object", "encoding/json.Unmarshal", "github.com/mhsm/mhsm/internal/hsm.getJSON",
			"github.com/mhsm/mhsm/internal/hsm.(*Service).usable"}, "json (store records)"},
		{[]string{"encoding/base64.(*Encoding).Encode", "github.com/mhsm/mhsm/internal/keys.B64.MarshalJSON", "encoding/json.Marshal",
			"github.com/mhsm/mhsm/internal/httpapi.writeJSON"}, "json (request/response)"},
		{[]string{"internal/runtime/syscall.Syscall6", "syscall.write", "internal/poll.(*FD).Write", "net.(*conn).Write", "crypto/tls.(*Conn).Write", "net/http.(*response).finishRequest"}, "network syscalls"},
		{[]string{"crypto/internal/fips140/aes/gcm.gcmAesEnc", "crypto/tls.(*Conn).writeRecordLocked", "net/http.(*conn).serve"}, "tls"},
		{[]string{"crypto/sha256.Sum256", "github.com/mhsm/mhsm/internal/token.(*Verifier).Verify"}, "token verification"},
		{[]string{"runtime.findRunnable", "runtime.schedule"}, "runtime (scheduler, netpoll, gc assist)"},
		{[]string{"encoding/json.Unmarshal", "github.com/mhsm/mhsm/internal/mgmt.getJSON", "github.com/mhsm/mhsm/internal/app.(*resourceIDs).get",
			"github.com/mhsm/mhsm/internal/audit.(*Log).Record", "github.com/mhsm/mhsm/internal/httpapi.(*Server).serveData"}, "audit"},
		{[]string{"syscall.Fsync", "os.(*File).Sync", "github.com/mhsm/mhsm/internal/audit.(*writer).write"}, "audit"},
	} {
		if got := categorize(c.stack); got != c.want {
			t.Errorf("categorize(%s) = %q, want %q", c.stack[0], got, c.want)
		}
	}
}

// BenchmarkFullStack sends requests through the whole server (TLS, token,
// RBAC, audit, handler) over 8 keep-alive connections from this process:
// ns/op is the inverse of the throughput on these cores, client included.
// `mhsm bench` is the fuller tool; this is for before/after comparisons
// with benchstat.
func BenchmarkFullStack(b *testing.B) {
	target := startServer(b)
	ctx := context.Background()
	tok, err := target.Token(ctx)
	if err != nil {
		b.Fatal(err)
	}
	s := &setup{t: target, token: tok, versions: map[string]string{}}
	defer func() {
		if s.c != nil {
			s.c.Close()
		}
	}()
	for _, name := range []string{"rsa2048-sign", "es256-sign", "a256kw-wrap", "a256gcm-encrypt", Floor} {
		ops, err := SelectOperations(name)
		if err != nil {
			b.Fatal(err)
		}
		op := ops[0]
		if err := s.ensureKey(ctx, op.key); err != nil {
			b.Fatal(err)
		}
		method, path, body, err := op.prepare(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		req := target.request(method, path, tok, body)
		b.Run(name, func(b *testing.B) {
			var failed atomic.Int64
			b.SetParallelism(4) // 4 × GOMAXPROCS connections
			b.RunParallel(func(pb *testing.PB) {
				c, err := target.dial(ctx, target.tlsConfig())
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for pb.Next() {
					if status, _, err := c.do(req); err != nil || status != 200 {
						failed.Add(1)
					}
				}
			})
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d requests failed", n)
			}
		})
	}
}
