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
	"slices"
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
	// Rounds splits each operation's raw, full-stack and audit-off phases
	// into Rounds slices of Duration/Rounds, run interleaved (raw, full,
	// audit off, raw, full, …), so that background load that comes and
	// goes on a shared machine hits both sides of each ratio alike.
	// Default 1.
	Rounds int
	// Warmup precedes every load slice and is not counted. Default
	// min(1s, Duration/Rounds/4).
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
	// Mode is the client the load is sent with; default ModeMinimal.
	Mode Mode
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
	// FloorOpsPerSec is the floor measured in this operation's own rounds
	// (operations with a floor goal only).
	FloorOpsPerSec float64 `json:"floorOpsPerSec,omitempty"`
	// VsRaw is Full / raw; VsFloor is Full / FloorOpsPerSec when measured,
	// otherwise Full / the floor operation's Full.
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
	Rounds      int      `json:"rounds"`
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
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if c.Warmup <= 0 {
		c.Warmup = min(time.Second, c.Duration/time.Duration(c.Rounds)/4)
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
		Conns: cfg.Conns, DurationSec: cfg.Duration.Seconds(), Rounds: cfg.Rounds}
	ps, err := prepareAll(ctx, t, cfg.Ops)
	if err != nil {
		return nil, err
	}
	var floorP *prepared
	if slices.ContainsFunc(cfg.Ops, func(o Operation) bool { return o.floorGoal }) {
		fl, err := SelectOperations(Floor)
		if err != nil {
			return nil, err
		}
		fp, err := prepareAll(ctx, t, fl)
		if err != nil {
			return nil, err
		}
		floorP = &fp[0]
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
		var po *prepared
		if off != nil {
			po = &off[i]
		}
		fp := floorP
		if !p.op.floorGoal {
			fp = nil
		}
		r, err := runOperation(ctx, cfg, p, po, fp)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.op.Name, err)
		}
		rep.Results = append(rep.Results, *r)
		fmt.Fprintf(cfg.Log, "%-20s %9.0f ops/s  p50 %.2f  p99 %.2f ms  errors %d\n", r.Op, r.Full.OpsPerSec, r.Full.P50Ms, r.Full.P99Ms, r.Full.Errors)
	}
	var floor float64
	for _, r := range rep.Results {
		if r.Op == Floor {
			floor = r.Full.OpsPerSec
		}
	}
	for i := range rep.Results {
		r := &rep.Results[i]
		switch {
		case r.FloorOpsPerSec > 0:
			r.VsFloor = r.Full.OpsPerSec / r.FloorOpsPerSec
		case floor > 0:
			r.VsFloor = r.Full.OpsPerSec / floor
		}
	}
	rep.Goals = evaluateGoals(rep)
	return rep, nil
}

// runOperation measures one operation: Rounds interleaved slices of the
// raw ceiling, the full-stack closed loop (profiled if asked), the floor
// (floor, if not nil) and the closed loop against the audit-off server
// (off, if not nil); then the run paced at half the full-stack throughput.
func runOperation(ctx context.Context, cfg Config, p prepared, off, floor *prepared) (*Result, error) {
	r := &Result{Op: p.op.Name, Label: p.op.Label}
	slice := cfg.Duration / time.Duration(cfg.Rounds)
	var raw *rawOps
	if p.op.raw != nil && !cfg.NoRaw {
		var err error
		if raw, err = newRawOps(p.op.raw); err != nil {
			return nil, fmt.Errorf("raw: %w", err)
		}
	}
	fmt.Fprintf(cfg.Log, "%-20s %d round(s) of %s: raw ceiling, full stack (%d connections)%s%s\n", p.op.Name, cfg.Rounds, slice, cfg.Conns,
		map[bool]string{true: ", floor", false: ""}[floor != nil], map[bool]string{true: ", audit off", false: ""}[off != nil])
	var rawN int64
	var rawT time.Duration
	var full, auditOff, floors []tally
	var profiles [][]byte
	for k := range cfg.Rounds {
		if raw != nil {
			n, el, err := raw.run(ctx, slice)
			if err != nil {
				return nil, fmt.Errorf("raw: %w", err)
			}
			rawN, rawT = rawN+n, rawT+el
		}
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
		ts, err := closedLoop(ctx, cfg, cfg.Target, p, slice, window)
		if err != nil {
			return nil, err
		}
		if profErr != nil {
			return nil, fmt.Errorf("cpu profile: %w", profErr)
		}
		profiles = append(profiles, prof.Bytes())
		full = append(full, shiftSeconds(ts, k)...)
		if floor != nil {
			ts, err := closedLoop(ctx, cfg, cfg.Target, *floor, slice, nil)
			if err != nil {
				return nil, fmt.Errorf("floor: %w", err)
			}
			floors = append(floors, ts...)
		}
		if off != nil {
			ts, err := closedLoop(ctx, cfg, cfg.AuditOff, *off, slice, nil)
			if err != nil {
				return nil, fmt.Errorf("audit off: %w", err)
			}
			auditOff = append(auditOff, shiftSeconds(ts, k)...)
		}
	}
	total := slice * time.Duration(cfg.Rounds)
	r.Full = summarize(full, 0, total)
	if r.Full.N == 0 {
		return nil, errors.New("no request succeeded: " + r.Full.FirstError)
	}
	if rawT > 0 {
		r.RawOpsPerSec = float64(rawN) / rawT.Seconds()
		r.VsRaw = r.Full.OpsPerSec / r.RawOpsPerSec
	}
	if floor != nil {
		r.FloorOpsPerSec = summarize(floors, 0, total).OpsPerSec
	}
	if off != nil {
		ph := summarize(auditOff, 0, total)
		r.AuditOff = &ph
		if ph.OpsPerSec > 0 {
			r.AuditCost = 1 - r.Full.OpsPerSec/ph.OpsPerSec
		}
	}
	if cfg.Profile {
		if err := keepProfiles(cfg, r, profiles); err != nil {
			return nil, err
		}
	}
	if !cfg.NoHalf {
		if err := runHalf(ctx, cfg, p, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// shiftSeconds moves round k's per-second indexes past the earlier rounds'
// so that per-second figures never mix two rounds.
func shiftSeconds(ts []tally, k int) []tally {
	for i := range ts {
		for j := range ts[i].sec {
			ts[i].sec[j] += int32(k * 100000)
		}
	}
	return ts
}

// keepProfiles writes the operation's profile (the first round's, if
// asked) and analyzes all rounds' profiles together.
func keepProfiles(cfg Config, r *Result, profiles [][]byte) error {
	if cfg.ProfileDir != "" {
		if err := os.WriteFile(filepath.Join(cfg.ProfileDir, r.Op+".pprof"), profiles[0], 0o644); err != nil {
			return err
		}
	}
	var err error
	if r.Profile, err = analyze(profiles, r.Full.N+r.Full.Errors, r.Full.WallSec, runtime.GOMAXPROCS(0)); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	return nil
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

// closedLoop runs one closed-loop slice of d of p against t on fresh
// connections.
func closedLoop(ctx context.Context, cfg Config, t *Target, p prepared, d time.Duration, window func(bool)) ([]tally, error) {
	ss, err := senders(ctx, t, cfg.Mode, p, cfg.Conns)
	if err != nil {
		return nil, err
	}
	defer closeSenders(ss)
	return runLoad(ctx, ss, cfg.Warmup, d, 0, window), nil
}

func closeSenders(ss []sender) {
	for _, s := range ss {
		s.close()
	}
}

// runHalf runs p paced at half of r.Full's throughput for Duration.
func runHalf(ctx context.Context, cfg Config, p prepared, r *Result) error {
	ss, err := senders(ctx, cfg.Target, cfg.Mode, p, cfg.Conns)
	if err != nil {
		return err
	}
	defer closeSenders(ss)
	rate := r.Full.OpsPerSec / 2
	fmt.Fprintf(cfg.Log, "%-20s paced at %.0f ops/s (50 %%), %s\n", r.Op, rate, cfg.Duration)
	h := summarize(runLoad(ctx, ss, cfg.Warmup, cfg.Duration, rate, nil), rate, cfg.Duration)
	r.Half = &h
	return nil
}
