package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/app"
	"github.com/mhsm/mhsm/internal/bench"
	"github.com/mhsm/mhsm/internal/client"
	"github.com/mhsm/mhsm/internal/config"
)

// benchOptions are the flags of `mhsm bench`.
type benchOptions struct {
	self, selfThrottle, audit, auditCmp  bool
	commitInterval                       time.Duration
	devJSON, url, caFile, token, connect string
	tenant, clientID, secret, authority  string
	ops, jsonOut, mdOut, cpuProfile      string
	conns, rounds                        int
	duration, warmup                     time.Duration
	noRaw, noHalf                        bool
	spawn                                bool
	clients, connsList                   string
	peer                                 bool
	serverArgs                           []string
	variants                             []string
	peerURL, peerToken, peerCA           string
}

func benchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load a server per operation and compare with the raw crypto ceiling and the no-crypto floor.",
		Long: `bench drives a running mhsm (--dev-json, or --url with --token or client
credentials) or one it starts in-process (--self, in a temporary data dir)
with -c keep-alive HTTPS connections for -d per operation, then paces each
operation at half its measured maximum. In the same run it measures the raw
library ceiling of each operation (Go crypto in-process on every core) and
the server's floor (key get). It prints a table and the issue's goal checks;
--json and --markdown write them to files. --audit-compare (with --self)
also starts a server with audit off and prices durable audit per operation.
--cpuprofile DIR (with --self) profiles each operation's full-stack window
and reports where the server's CPU went per request.

scripts/bench.sh runs the standard size and regenerates docs/performance.md.

The benchmark keys (bench-rsa-2048, bench-ec-p256, …) are created on first
use and reused afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.self, "self", false, "start a dev-mode server in-process with a temporary data dir")
	f.BoolVar(&o.audit, "audit", true, "with --self: durable audit on the in-process server")
	f.BoolVar(&o.auditCmp, "audit-compare", false, "with --self or --spawn: also start a server with audit off and repeat each closed loop (or client-matrix cell) against it, interleaved (prices durable audit)")
	f.DurationVar(&o.commitInterval, "audit-commit-interval", config.DefaultAudit().CommitInterval, "with --self: the server's --audit-commit-interval")
	f.BoolVar(&o.selfThrottle, "self-throttle", false, "with --self, keep the default admission limits (by default they are raised so that they never refuse; their bookkeeping still runs)")
	f.StringVar(&o.devJSON, "dev-json", "", "dev.json of a running dev-mode server (URL, CA, client credentials)")
	f.StringVar(&o.url, "url", "", "HSM URL, e.g. https://dev.managedhsm.mhsm.localhost:8443")
	f.StringVar(&o.caFile, "ca-file", "", "PEM CA certificate the server's certificate chains to")
	f.StringVar(&o.token, "token", "", "data-plane bearer token (default: client credentials)")
	f.StringVar(&o.tenant, "tenant", "", "tenant id for client credentials")
	f.StringVar(&o.clientID, "client-id", "", "client id for client credentials")
	f.StringVar(&o.secret, "client-secret", "", "client secret for client credentials")
	f.StringVar(&o.authority, "authority", "", "authority host (default: https://login.<domain>:<port> of --url)")
	f.StringVar(&o.connect, "connect", os.Getenv("MHSM_CONNECT"), "host:port to dial instead of resolving the URL's host (env MHSM_CONNECT; *.localhost dials 127.0.0.1)")
	f.IntVarP(&o.conns, "conns", "c", 64, "keep-alive connections")
	f.DurationVarP(&o.duration, "duration", "d", 10*time.Second, "measured time per operation and phase")
	f.IntVar(&o.rounds, "rounds", 1, "split each operation's raw, full-stack and audit-off phases into this many interleaved slices (steadier ratios on a shared machine)")
	f.DurationVar(&o.warmup, "warmup", 0, "unmeasured time before each slice (default min(1s, d/rounds/4))")
	f.StringVar(&o.ops, "ops", "all", "comma-separated operations: "+opNames())
	f.StringVar(&o.jsonOut, "json", "", "write the report as JSON to this file")
	f.StringVar(&o.mdOut, "markdown", "", "write the report as Markdown to this file")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "with --self: profile each operation, write DIR/<op>.pprof and report the breakdown")
	f.BoolVar(&o.noRaw, "no-raw", false, "skip the raw library ceiling")
	f.BoolVar(&o.noHalf, "no-half", false, "skip the run paced at 50 % of the maximum")
	f.BoolVar(&o.spawn, "spawn", false, "start `mhsm server --dev` with its default flags as a child process (temporary data dir) and measure its CPU per request")
	f.StringArrayVar(&o.serverArgs, "server-arg", nil, "with --spawn: an extra flag for the server, e.g. --server-arg=--http2 (repeatable)")
	f.StringArrayVar(&o.variants, "spawn-variant", nil, "with --spawn and --clients: also spawn a server with these extra flags (space-separated) and run every cell against it too, interleaved: 'NAME=FLAGS', e.g. 'h2=--http2' (repeatable)")
	f.StringVar(&o.clients, "clients", "", "run the client matrix instead: comma-separated client modes (minimal, std, azkeys; all) at each --conns-list count")
	f.StringVar(&o.connsList, "conns-list", "1,16,64", "with --clients: connection counts")
	f.BoolVar(&o.peer, "peer", false, "compare with OpenBao Transit side by side (std client, -c connections): --peer-url/--peer-token/--peer-ca, or without --peer-url the figures recorded on this machine type, scaled by this run's raw ceiling")
	f.StringVar(&o.peerURL, "peer-url", "", "with --peer: OpenBao address, e.g. https://127.0.0.1:8299")
	f.StringVar(&o.peerToken, "peer-token", "", "with --peer: OpenBao token")
	f.StringVar(&o.peerCA, "peer-ca", "", "with --peer: PEM CA of OpenBao's certificate")
	return cmd
}

func opNames() string {
	var n []string
	for _, o := range bench.Operations() {
		n = append(n, o.Name)
	}
	return strings.Join(n, ",")
}

func runBench(cmd *cobra.Command, o benchOptions) error {
	ctx := cmd.Context()
	ops, err := bench.SelectOperations(o.ops)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" && !o.self {
		return errors.New("--cpuprofile needs --self: the profile is of this process")
	}
	if !o.audit && !o.self {
		return errors.New("--audit needs --self (with --spawn: --server-arg=--audit=false)")
	}
	if len(o.variants) > 0 && (!o.spawn || o.clients == "") {
		return errors.New("--spawn-variant needs --spawn and --clients")
	}
	if o.auditCmp && !o.self && !o.spawn {
		return errors.New("--audit-compare needs --self or --spawn")
	}
	var target, auditOff *bench.Target
	var serverPID, auditOffPID int
	switch {
	case o.spawn:
		stop, t, pid, err := spawnServer(ctx, o.serverArgs)
		if err != nil {
			return err
		}
		defer stop()
		target, serverPID = t, pid
		if o.auditCmp {
			stop, t, pid, err := spawnServer(ctx, append(slices.Clone(o.serverArgs), "--audit=false"))
			if err != nil {
				return err
			}
			defer stop()
			auditOff, auditOffPID = t, pid
		}
	case o.self:
		stop, t, err := startSelf(ctx, o.selfThrottle, o.audit, o.commitInterval)
		if err != nil {
			return err
		}
		defer stop()
		target = t
		if o.auditCmp {
			stop, t, err := startSelf(ctx, o.selfThrottle, false, o.commitInterval)
			if err != nil {
				return err
			}
			defer stop()
			auditOff = t
		}
	case o.devJSON != "":
		d, err := client.ReadDev(o.devJSON)
		if err != nil {
			return err
		}
		if target, err = bench.TargetFromDev(d, o.connect); err != nil {
			return err
		}
	case o.url != "":
		if target, err = bench.NewTarget(o.url, o.caFile, o.connect, o.token, bench.Credentials{
			Authority: o.authority, Tenant: o.tenant, ClientID: o.clientID, ClientSecret: o.secret}); err != nil {
			return err
		}
	default:
		return errors.New("give --spawn, --self, --dev-json or --url")
	}
	if o.clients != "" {
		servers := []bench.Server{{Name: "default", Target: target, PID: serverPID}}
		if auditOff != nil {
			servers = append(servers, bench.Server{Name: "audit off", Target: auditOff, PID: auditOffPID})
		}
		for _, v := range o.variants {
			name, flags, ok := strings.Cut(v, "=")
			if !ok || name == "" {
				return fmt.Errorf("--spawn-variant %q: want NAME=FLAGS", v)
			}
			stop, t, pid, err := spawnServer(ctx, append(slices.Clone(o.serverArgs), strings.Fields(flags)...))
			if err != nil {
				return fmt.Errorf("--spawn-variant %s: %w", name, err)
			}
			defer stop()
			servers = append(servers, bench.Server{Name: name, Target: t, PID: pid})
		}
		return runClientMatrix(cmd, o, servers, ops)
	}
	if o.peer {
		return runPeer(cmd, o, target)
	}
	if o.cpuProfile != "" {
		if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
			return err
		}
	}
	rep, err := bench.Run(ctx, bench.Config{Target: target, Ops: ops, Conns: o.conns, Duration: o.duration, Rounds: o.rounds, Warmup: o.warmup,
		NoRaw: o.noRaw, NoHalf: o.noHalf, AuditOff: auditOff, Profile: o.cpuProfile != "", ProfileDir: o.cpuProfile,
		Log: newProgress(cmd, "bench").Log()}) // progress.go: phase lines on a terminal only
	if err != nil {
		return err
	}
	rep.Command = "mhsm bench " + strings.Join(os.Args[min(len(os.Args), 2):], " ")
	if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
		return err
	}
	write := func(path string, f func(*os.File) error) error {
		if path == "" {
			return nil
		}
		out, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := f(out); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	if err := write(o.jsonOut, func(f *os.File) error { return rep.WriteJSON(f) }); err != nil {
		return err
	}
	return write(o.mdOut, func(f *os.File) error {
		if err := rep.WriteMarkdown(f); err != nil {
			return err
		}
		if o.cpuProfile == "" {
			return nil
		}
		fmt.Fprintln(f, "\n### Where the server's CPU goes (CPU profile of the full-stack window)")
		fmt.Fprintln(f)
		return rep.WriteProfiles(f)
	})
}

// startSelf starts a dev-mode server in this process on a free loopback
// port with a temporary data dir. It runs outside any pprof label, so its
// goroutines are the unlabelled (server) samples of a profile.
func startSelf(ctx context.Context, keepThrottle, audit bool, commitInterval time.Duration) (func(), *bench.Target, error) {
	dir, err := os.MkdirTemp("", "mhsm-bench-")
	if err != nil {
		return nil, nil, err
	}
	cfg := config.Default()
	cfg.Addr, cfg.DataDir, cfg.Dev = "127.0.0.1:0", dir, true
	cfg.Audit.Off, cfg.Audit.CommitInterval = !audit, commitInterval
	if !keepThrottle {
		// Admission is policy, not cost: switch it off.
		cfg.ThrottleCapacity, cfg.ThrottleHSMRate, cfg.ThrottlePrincipalRate = 0, 0, 0
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a, err := app.New(sctx, cfg)
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx) }()
	stop := func() {
		cancel()
		_ = a.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		os.RemoveAll(dir)
	}
	t, err := bench.TargetFromDev(*a.Dev, a.Addr().String())
	if err != nil {
		stop()
		return nil, nil, err
	}
	return stop, t, nil
}
