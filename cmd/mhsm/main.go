// Command mhsm is the mhsm server and CLI. main is tiny; Run is testable.
//
// One file per command group, named after it: server.go, hosts.go,
// login.go (login, logout, account), ad.go, identity.go, group.go,
// role.go, monitor.go, keyvault_hsm.go (keyvault create/show/…),
// keyvault_key*.go, keyvault_role.go, keyvault_sd.go, audit.go, bench.go.
// Shared by all: conn.go (the one connection stack: profile, dev.json,
// explicit credentials, MHSM_CONNECT), output.go and tables.go (-o,
// --query, table columns), progress.go (progress on a terminal), help.go
// (az-style examples of every command).
//
// A new command: build it with dataCmd (an HSM's data plane, conn.go),
// graphCmd (the directory, ad.go) or connCmd (the management plane,
// conn_mgmt.go), which bind the connection flags and -o/--query; give it
// an Example (in its code or in help.go) — help_test.go fails without one;
// add its table columns to tables.go; report long-running work through
// newProgress (progress.go), which is silent in pipes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mhsm:", err)
		os.Exit(1)
	}
}

// Run executes the mhsm command line args.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot()
	root.SetArgs(azListArgs(args)) // keyvault_sd.go: az-style "--flag a b c" lists
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// newRoot builds the whole command tree.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "mhsm",
		Short:         "A self-hosted Managed HSM: the Azure Key Vault Managed HSM API with its access-control model, and its CLI.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serverCmd(), hostsCmd(), benchCmd(), keyvaultCmd(), auditCmd())
	root.AddCommand(loginCmd(), logoutCmd(), accountCmd(), adCmd(), identityCmd())
	root.AddCommand(groupCmd(), roleCmd(), monitorCmd())
	root.AddCommand(devCmd()) // dev.go
	addExamples(root)         // help.go
	return root
}
