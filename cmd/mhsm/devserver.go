package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/config"
)

// The dev-mode flags of mhsm server: --ephemeral (in-memory store, a
// temporary data dir, port 0) and --seed, plus the lifetime rules that make
// a one-line start in CI safe: an ephemeral server exits when its parent
// process exits or when its stdin, if a pipe, is closed.

// devServerOpts are the dev-only flags that are not server configuration.
type devServerOpts struct {
	exitWithParent bool
}

// devServerFlags binds the dev-mode flags.
func devServerFlags(cmd *cobra.Command, cfg *config.Server, o *devServerOpts) {
	f := cmd.Flags()
	f.BoolVar(&cfg.Ephemeral, "ephemeral", false, "with --dev: in-memory store, temporary data dir (unless --data-dir), 127.0.0.1:0 (unless --addr); exits with its parent or when stdin (a pipe) closes")
	f.StringVar(&cfg.Seed, "seed", "", "with --dev: load this state file (mhsm dev export) into a fresh store")
	f.BoolVar(&o.exitWithParent, "exit-with-parent", true, "with --ephemeral: exit when the parent process exits")
}

// prepareDevServer applies --ephemeral's defaults and returns the context
// the server runs in and a cleanup to call after it stopped. Without
// --ephemeral it changes nothing (config.Validate refuses --ephemeral and
// --seed without --dev).
func prepareDevServer(cmd *cobra.Command, cfg *config.Server, o *devServerOpts) (context.Context, func(), error) {
	ctx := cmd.Context()
	if !cfg.Ephemeral || !cfg.Dev {
		return ctx, func() {}, nil
	}
	cleanup := func() {}
	if !cmd.Flags().Changed("data-dir") {
		dir, err := os.MkdirTemp("", "mhsm-dev-")
		if err != nil {
			return nil, nil, err
		}
		cfg.DataDir = dir
		cleanup = func() { _ = os.RemoveAll(dir) }
	} else if err := os.Remove(filepath.Join(cfg.DataDir, "dev.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err // a stale dev.json would look like a ready server
	}
	if !cmd.Flags().Changed("addr") {
		cfg.Addr = "127.0.0.1:0"
	}
	if !cmd.Flags().Changed("ops-addr") {
		cfg.OpsAddr = "" // a fixed port would collide between parallel CI jobs
	}
	ctx, cancel := context.WithCancel(ctx)
	if stdinIsPipe() {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	}
	if o.exitWithParent {
		go watchParent(ctx, cancel)
	}
	return ctx, func() { cancel(); cleanup() }, nil
}

// announceDev prints the address and dev.json path once dev.json exists
// (Serve writes it when the listener is ready).
func announceDev(ctx context.Context, cmd *cobra.Command, cfg *config.Server, addr string) {
	path := filepath.Join(cfg.DataDir, "dev.json")
	for ctx.Err() == nil {
		if _, err := os.Stat(path); err == nil {
			cmd.Printf("mhsm dev server ready: addr=%s devJson=%s\n", addr, path)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stdinIsPipe reports whether stdin is a pipe or socket: a closed pipe
// means the parent is done. /dev/null (a background job) and terminals are
// not watched.
func stdinIsPipe() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0
}

// watchParent cancels when the parent process exits (the process is
// re-parented, so its parent pid changes).
func watchParent(ctx context.Context, cancel context.CancelFunc) {
	ppid := os.Getppid()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != ppid {
				fmt.Fprintln(os.Stderr, "mhsm: parent process exited; stopping the ephemeral dev server")
				cancel()
				return
			}
		}
	}
}
