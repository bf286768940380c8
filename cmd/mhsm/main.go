// Command mhsm is the mhsm server and CLI. main is tiny; Run is testable.
// One file per command group: server.go, hosts.go.
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
	root := &cobra.Command{
		Use:           "mhsm",
		Short:         "A self-hosted Managed HSM: the Azure Key Vault Managed HSM API with its access-control model",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(azListArgs(args)) // securitydomain.go: az-style "--flag a b c" lists
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serverCmd(), hostsCmd(), benchCmd(), keyvaultCmd(), auditCmd())
	root.AddCommand(loginCmd(), logoutCmd(), accountCmd(), adCmd(), identityCmd()) // login.go, ad.go
	root.AddCommand(groupCmd(), roleCmd(), monitorCmd())                           // group.go, role.go, monitor.go
	root.AddCommand(devCmd())                                                      // dev.go
	return root.ExecuteContext(ctx)
}
