// Package bench is the load generator behind `mhsm bench`: it drives a
// running mhsm (or one started in-process by the command) with N keep-alive
// HTTPS connections per operation and sets every figure against two
// references measured in the same run on the same cores — the raw library
// ceiling (the operation's Go crypto on GOMAXPROCS goroutines, in-process)
// and the server's floor (a key GET, a request that does no crypto). It
// reports ops/s, latency percentiles and errors, p99 at half the measured
// maximum, the goal ratios, and, with a CPU profile, where the
// server's CPU went per request.
//
// Read bench.go (Run), then ops.go (the operations), load.go (the load
// loops), client.go (the minimal HTTP/1.1 client), profile.go and
// report.go.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// Config is one benchmark run.
type Config struct {
	Target *Target
	// Ops to run, in order (see Operations).
	Ops []Operation
	// Conns is the number of keep-alive connections (and client
	// goroutines). Default 64.
	Conns int
	// Duration is the measured time per operation and phase. Default 10s.
	Duration time.Duration
	// Warmup precedes every load phase and is not counted. Default
	// min(1s, Duration/4).
	Warmup time.Duration
	// NoRaw skips the in-process library ceiling.
	NoRaw bool
	// NoHalf skips the run paced at half the measured maximum.
	NoHalf bool
	// Profile takes a CPU profile of this process during each operation's
	// full-stack window and reports a breakdown (meaningful when the server
	// runs in-process). ProfileDir, if set, also keeps <op>.pprof there.
	Profile    bool
	ProfileDir string
	// AuditOff, if set, is a second server like Target but with audit off:
	// each operation's closed loop is repeated against it, in the same run,
	// to price durable audit.
	AuditOff *Target
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Result is one operation's figures.
type Result struct {
	Op    string `json:"op"`
	Label string `json:"label"`
	// Full is the closed-loop run at Conns connections: the maximum.
	Full Phase `json:"full"`
	// Half is paced at 50 % of Full.OpsPerSec.
	Half *Phase `json:"half,omitempty"`
	// AuditOff is the closed loop against Config.AuditOff; AuditCost is
	// 1 - Full/AuditOff, the share of throughput durable audit costs.
	AuditOff  *Phase  `json:"auditOff,omitempty"`
	AuditCost float64 `json:"auditCost,omitempty"`
	// RawOpsPerSec is the library ceiling (0: none, e.g. key get).
	RawOpsPerSec float64 `json:"rawOpsPerSec,omitempty"`
	// VsRaw is Full / raw; VsFloor is Full / the floor's Full.
	VsRaw   float64    `json:"vsRaw,omitempty"`
	VsFloor float64    `json:"vsFloor,omitempty"`
	Profile *Breakdown `json:"profile,omitempty"`
}

// Report is a whole run.
type Report struct {
	Command     string   `json:"command,omitempty"`
	Started     string   `json:"started"`
	Machine     Machine  `json:"machine"`
	Target      string   `json:"target"`
	Conns       int      `json:"conns"`
	DurationSec float64  `json:"durationSec"`
	Results     []Result `json:"results"`
	Goals       []Goal   `json:"goals"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpuModel"`
	GoVersion  string `json:"goVersion"`
	OS         string `json:"os"`
}

// ThisMachine describes the current machine.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func (c *Config) defaults() {
	if c.Conns <= 0 {
		c.Conns = 64
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = min(time.Second, c.Duration/4)
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if len(c.Ops) == 0 {
		c.Ops = Operations()
	}
}

// Run runs every operation of cfg and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	t := cfg.Target
	rep := &Report{Started: time.Now().UTC().Format(time.RFC3339), Machine: ThisMachine(), Target: t.HSMURL.String(),
		Conns: cfg.Conns, DurationSec: cfg.Duration.Seconds()}
	ps, err := prepareAll(ctx, t, cfg.Ops)
	if err != nil {
		return nil, err
	}
	var off []prepared
	if cfg.AuditOff != nil {
		if off, err = prepareAll(ctx, cfg.AuditOff, cfg.Ops); err != nil {
			return nil, fmt.Errorf("audit-off server: %w", err)
		}
	}
	for i, p := range ps {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r := Result{Op: p.op.Name, Label: p.op.Label}
		if p.op.raw != nil && !cfg.NoRaw {
			fmt.Fprintf(cfg.Log, "%-20s raw ceiling, %d goroutines, %s\n", p.op.Name, runtime.GOMAXPROCS(0), cfg.Duration)
			if r.RawOpsPerSec, err = runRaw(ctx, p.op.raw, cfg.Duration); err != nil {
				return nil, fmt.Errorf("%s raw: %w", p.op.Name, err)
			}
		}
		if err := runServer(ctx, cfg, p, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", p.op.Name, err)
		}
		if r.RawOpsPerSec > 0 {
			r.VsRaw = r.Full.OpsPerSec / r.RawOpsPerSec
		}
		if off != nil {
			fmt.Fprintf(cfg.Log, "%-20s full stack, audit off, %d connections, %s\n", r.Op, cfg.Conns, cfg.Duration)
			ph, err := closedLoop(ctx, cfg, cfg.AuditOff, off[i], nil)
			if err != nil {
				return nil, fmt.Errorf("%s (audit off): %w", p.op.Name, err)
			}
			r.AuditOff = &ph
			if ph.OpsPerSec > 0 {
				r.AuditCost = 1 - r.Full.OpsPerSec/ph.OpsPerSec
			}
		}
		rep.Results = append(rep.Results, r)
		fmt.Fprintf(cfg.Log, "%-20s %9.0f ops/s  p50 %.2f  p99 %.2f ms  errors %d\n", r.Op, r.Full.OpsPerSec, r.Full.P50Ms, r.Full.P99Ms, r.Full.Errors)
	}
	var floor float64
	for _, r := range rep.Results {
		if r.Op == Floor {
			floor = r.Full.OpsPerSec
		}
	}
	for i := range rep.Results {
		if floor > 0 {
			rep.Results[i].VsFloor = rep.Results[i].Full.OpsPerSec / floor
		}
	}
	rep.Goals = evaluateGoals(rep)
	return rep, nil
}

// prepared is an operation ready to send to one server.
type prepared struct {
	op           Operation
	method, path string
	body         []byte
}

// prepareAll creates or finds the operations' keys on t and checks that
// each request succeeds once.
func prepareAll(ctx context.Context, t *Target, ops []Operation) ([]prepared, error) {
	tok, err := t.Token(ctx)
	if err != nil {
		return nil, err
	}
	s := &setup{t: t, token: tok, versions: map[string]string{}}
	defer func() {
		if s.c != nil {
			s.c.Close()
		}
	}()
	var ps []prepared
	for _, op := range ops {
		if err := s.ensureKey(ctx, op.key); err != nil {
			return nil, fmt.Errorf("%s: %w", op.Name, err)
		}
		m, p, b, err := op.prepare(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.Name, err)
		}
		status, body, err := s.call(ctx, m, p, b)
		if err != nil || status != 200 {
			return nil, fmt.Errorf("%s: %s %s: %d %s %v", op.Name, m, p, status, truncate(body), err)
		}
		ps = append(ps, prepared{op, m, p, b})
	}
	return ps, nil
}

// dialAll opens n connections to t.
func dialAll(ctx context.Context, t *Target, n int) ([]*conn, error) {
	tc := t.tlsConfig()
	conns := make([]*conn, n)
	for i := range conns {
		c, err := t.dial(ctx, tc)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns[i] = c
	}
	return conns, nil
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// closedLoop runs one closed-loop phase of p against t on fresh
// connections.
func closedLoop(ctx context.Context, cfg Config, t *Target, p prepared, window func(bool)) (Phase, error) {
	tok, err := t.Token(ctx)
	if err != nil {
		return Phase{}, err
	}
	conns, err := dialAll(ctx, t, cfg.Conns)
	if err != nil {
		return Phase{}, err
	}
	defer closeAll(conns)
	return runLoad(ctx, t, conns, t.request(p.method, p.path, tok, p.body), cfg.Warmup, cfg.Duration, 0, window), nil
}

// runServer runs the full-stack phases of one operation against
// cfg.Target: the closed loop (profiled if asked), then the run paced at
// half its throughput.
func runServer(ctx context.Context, cfg Config, p prepared, r *Result) error {
	t := cfg.Target
	var prof bytes.Buffer
	var profErr error
	var window func(open bool)
	if cfg.Profile {
		window = func(open bool) {
			if open {
				profErr = pprof.StartCPUProfile(&prof)
			} else if profErr == nil {
				pprof.StopCPUProfile()
			}
		}
	}
	fmt.Fprintf(cfg.Log, "%-20s full stack, %d connections, %s\n", r.Op, cfg.Conns, cfg.Duration)
	var err error
	if r.Full, err = closedLoop(ctx, cfg, t, p, window); err != nil {
		return err
	}
	if cfg.Profile {
		if profErr != nil {
			return fmt.Errorf("cpu profile: %w", profErr)
		}
		if cfg.ProfileDir != "" {
			if err := os.WriteFile(filepath.Join(cfg.ProfileDir, r.Op+".pprof"), prof.Bytes(), 0o644); err != nil {
				return err
			}
		}
		if r.Profile, err = analyze(prof.Bytes(), r.Full.N+r.Full.Errors, r.Full.WallSec, runtime.GOMAXPROCS(0)); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
	}
	if r.Full.N == 0 {
		return errors.New("no request succeeded: " + r.Full.FirstError)
	}
	if cfg.NoHalf {
		return nil
	}
	tok, err := t.Token(ctx)
	if err != nil {
		return err
	}
	conns, err := dialAll(ctx, t, cfg.Conns)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	rate := r.Full.OpsPerSec / 2
	fmt.Fprintf(cfg.Log, "%-20s paced at %.0f ops/s (50 %%), %s\n", r.Op, rate, cfg.Duration)
	h := runLoad(ctx, t, conns, t.request(p.method, p.path, tok, p.body), cfg.Warmup, cfg.Duration, rate, nil)
	r.Half = &h
	return nil
}
