package main

import (
	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/app"
	"github.com/mhsm/mhsm/internal/config"
)

func hostsCmd() *cobra.Command {
	cfg := config.Default()
	var names []string
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "Print the /etc/hosts lines a machine needs to reach mhsm by name.",
		Long: "Print the /etc/hosts lines a machine needs to reach mhsm by name. With --azure, the lines map\n" +
			"login.microsoftonline.com, management.azure.com, graph.microsoft.com and <hsm>.managedhsm.azure.net\n" +
			"to mhsm: only for a machine that never talks to real Azure (see docs/compatibility.md).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Print(app.HostsLines(&cfg, names))
			return nil
		},
	}
	cmd.Flags().StringVar(&cfg.Domain, "domain", cfg.Domain, "DNS suffix the server uses")
	cmd.Flags().BoolVar(&cfg.AzureHostnames, "azure", false, "print Azure's public names (for a server run with --azure-hostnames)")
	cmd.Flags().StringSliceVar(&names, "hsm", []string{"dev"}, "HSM names to include")
	return cmd
}
