package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/bench"
)

// parseConnsList parses "1,16,64".
func parseConnsList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--conns-list %q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// spawnServer starts `mhsm server --dev` — this binary, its default flags
// plus extra,
// a temporary data dir and a free loopback port — as a child process, so
// that its CPU time is its own, and waits until it has written dev.json.
func spawnServer(ctx context.Context, extra []string) (stop func(), t *bench.Target, pid int, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, 0, err
	}
	dir, err := os.MkdirTemp("", "mhsm-bench-")
	if err != nil {
		return nil, nil, 0, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, 0, err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, 0, err
	}
	args := append([]string{"server", "--dev", "--data-dir", filepath.Join(dir, "data"), "--addr", addr, "--ops-addr", ""}, extra...)
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, nil, 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		os.RemoveAll(dir)
	}
	devJSON := filepath.Join(dir, "data", "dev.json")
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := os.Stat(devJSON); err == nil {
			break
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logf.Name())
			logf.Close()
			os.RemoveAll(dir)
			return nil, nil, 0, fmt.Errorf("server exited (%v): %s", err, b)
		case <-ctx.Done():
			stop()
			return nil, nil, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, 0, errors.New("server did not write dev.json within 2 minutes")
		}
	}
	d, err := bench.ReadDev(devJSON)
	if err == nil {
		t, err = bench.TargetFromDev(d, addr)
	}
	if err != nil {
		stop()
		return nil, nil, 0, err
	}
	return stop, t, cmd.Process.Pid, nil
}

// runClientMatrix runs `mhsm bench --clients …`.
func runClientMatrix(cmd *cobra.Command, o benchOptions, servers []bench.Server, ops []bench.Operation) error {
	modes, err := bench.ParseModes(o.clients)
	if err != nil {
		return err
	}
	conns, err := parseConnsList(o.connsList)
	if err != nil {
		return err
	}
	rep, err := bench.RunClients(cmd.Context(), bench.ClientsConfig{Servers: servers, Ops: ops, Modes: modes, Conns: conns,
		Duration: o.duration, Rounds: o.rounds, Warmup: o.warmup, Log: cmd.ErrOrStderr()})
	if err != nil {
		return err
	}
	rep.Command = "mhsm bench " + strings.Join(os.Args[min(len(os.Args), 2):], " ")
	if err := rep.WriteMarkdown(cmd.OutOrStdout()); err != nil {
		return err
	}
	if o.mdOut != "" {
		f, err := os.Create(o.mdOut)
		if err != nil {
			return err
		}
		if err := rep.WriteMarkdown(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

// runPeer runs `mhsm bench --peer …`.
func runPeer(cmd *cobra.Command, o benchOptions, target *bench.Target) error {
	var peer *bench.OpenBao
	if o.peerURL != "" {
		u, err := url.Parse(strings.TrimRight(o.peerURL, "/"))
		if err != nil || u.Scheme != "https" {
			return fmt.Errorf("--peer-url %q: want https://host:port", o.peerURL)
		}
		peer = &bench.OpenBao{URL: u, Token: o.peerToken, CAFile: o.peerCA}
	}
	rows, err := bench.RunPeer(cmd.Context(), bench.PeerConfig{Target: target, Peer: peer, Conns: o.conns, Duration: o.duration,
		Rounds: o.rounds, Log: cmd.ErrOrStderr()})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "`mhsm bench %s` (%d connections, std client, %d × %s per side, interleaved)\n\n",
		strings.Join(os.Args[min(len(os.Args), 2):], " "), o.conns, max(o.rounds, 1), o.duration/time.Duration(max(o.rounds, 1)))
	return bench.WritePeerMarkdown(out, rows, peer != nil)
}
