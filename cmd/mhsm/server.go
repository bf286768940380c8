package main

import (
	"errors"
	"log/slog"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/app"
	"github.com/mhsm/mhsm/internal/config"
)

// serverFlags binds the server configuration flags to cfg.
func serverFlags(cmd *cobra.Command, cfg *config.Server) {
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "HTTPS listen address")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the store, root key and TLS material")
	f.StringVar(&cfg.Domain, "domain", cfg.Domain, "DNS suffix: login.<domain>, <hsm>.managedhsm.<domain>, …")
	f.BoolVar(&cfg.AzureHostnames, "azure-hostnames", cfg.AzureHostnames, "answer as login.microsoftonline.com, management.azure.com, graph.microsoft.com and <hsm>.managedhsm.azure.net (docs/compatibility.md)")
	f.BoolVar(&cfg.ADFSChallenge, "adfs-challenge", cfg.ADFSChallenge, "name the authority https://login.<domain>/adfs in 401 challenges (DefaultAzureCredential with AZURE_TENANT_ID=adfs)")
	f.IntVar(&cfg.PublicPort, "public-port", cfg.PublicPort, "port clients use in URLs (default: the port of --addr)")
	f.BoolVar(&cfg.Dev, "dev", cfg.Dev, "create a dev tenant, HSM 'dev' and service principal; write <data-dir>/dev.json")
	f.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "PEM certificate to serve instead of the generated one")
	f.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "PEM private key for --tls-cert")
	f.StringVar(&cfg.RootKeyFile, "root-key-file", cfg.RootKeyFile, "existing 32-byte root key (default: <data-dir>/root.key, created on first start)")
	f.DurationVar(&cfg.TokenLifetime, "token-lifetime", cfg.TokenLifetime, "lifetime of issued access tokens")
	f.StringVar(&cfg.OpsAddr, "ops-addr", cfg.OpsAddr, "plain-HTTP address of /healthz, /readyz, /metrics (empty: none)")
	f.BoolVar(&cfg.HTTP2, "http2", cfg.HTTP2, "offer HTTP/2 (ALPN h2) beside HTTP/1.1")
	f.Float64Var(&cfg.ThrottleCapacity, "throttle-capacity", cfg.ThrottleCapacity, "machine capacity for fair sharing in cost units (≈ CPU ms) per second: when busy, callers above their fair share get 429; 0 disables")
	f.Float64Var(&cfg.ThrottleHSMRate, "throttle-hsm-rate", cfg.ThrottleHSMRate, "hard cap on work per HSM in cost units (≈ CPU ms) per second; 0 (default) sets none")
	f.Float64Var(&cfg.ThrottlePrincipalRate, "throttle-principal-rate", cfg.ThrottlePrincipalRate, "hard cap on work per caller in cost units (≈ CPU ms) per second; 0 (default) sets none")
	f.DurationVar(&cfg.RotationInterval, "rotation-interval", cfg.RotationInterval, "how often automatic key rotation and purge run")
	f.StringVar(&cfg.Store, "store", cfg.Store, "store backend: bolt (<data-dir>/mhsm.db) or etcd (shared by several nodes)")
	f.StringSliceVar(&cfg.Etcd.Endpoints, "etcd-endpoints", cfg.Etcd.Endpoints, "etcd client URLs, comma separated (with --store etcd)")
	f.StringVar(&cfg.Etcd.CAFile, "etcd-ca", cfg.Etcd.CAFile, "PEM CA certificate of the etcd members")
	f.StringVar(&cfg.Etcd.CertFile, "etcd-cert", cfg.Etcd.CertFile, "PEM client certificate for etcd")
	f.StringVar(&cfg.Etcd.KeyFile, "etcd-key", cfg.Etcd.KeyFile, "PEM private key of --etcd-cert")
	f.StringVar(&cfg.Etcd.Prefix, "etcd-prefix", cfg.Etcd.Prefix, "key prefix in etcd (default mhsm/)")
	f.IntVar(&cfg.Etcd.MaxTxnBytes, "etcd-max-txn-bytes", cfg.Etcd.MaxTxnBytes, "largest transaction in bytes (default: etcd's 1.5 MiB; raise with --max-request-bytes)")
	f.IntVar(&cfg.Etcd.MaxTxnOps, "etcd-max-txn-ops", cfg.Etcd.MaxTxnOps, "most writes or read guards per transaction (default 4096: run etcd with --max-txn-ops 4096)")
	f.BoolVar(&cfg.AllowSecurityDomainRedownload, "allow-security-domain-redownload", cfg.AllowSecurityDomainRedownload,
		"allow security domain downloads after an HSM is activated (default: refused; see docs/security.md)")
	identityServerFlags(cmd, cfg)
	auditServerFlags(cmd, &cfg.Audit) // audit.go
}

func serverCmd() *cobra.Command {
	cfg := config.Default()
	cfg.OpsAddr = "127.0.0.1:9464"
	var devOpts devServerOpts
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the mhsm server.",
		Long: `Runs the server until SIGINT or SIGTERM. Flags and listeners are checked before
anything is written, so a failed start leaves no data directory behind. On
shutdown it drains requests, writes the final audit checkpoints and closes the
store, and logs one line saying so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cleanup, err := prepareDevServer(cmd, &cfg, &devOpts) // devserver.go
			if err != nil {
				return err
			}
			defer cleanup()
			a, err := app.New(ctx, cfg)
			if err != nil {
				return err
			}
			if a.Dev != nil {
				cmd.Printf("dev mode: credentials in %s/dev.json; add to /etc/hosts (or set MHSM_CONNECT=%s):\n%s",
					cfg.DataDir, a.Addr(), app.HostsLines(a.Config, []string{"dev"}))
				go announceDev(ctx, cmd, &cfg, a.Addr().String()) // devserver.go
			}
			stopProfile, err := startCPUProfile(cpuProfile)
			if err != nil {
				_ = a.Close()
				return err
			}
			serveErr := a.Serve(ctx)
			closeErr := a.Close()
			stopProfile()
			if err := errors.Join(serveErr, closeErr); err != nil {
				return err
			}
			audit := "audit log flushed with a final checkpoint per chain"
			if cfg.Audit.Off {
				audit = "audit off"
			}
			slog.Info("mhsm stopped: requests drained, "+audit+", store closed", "dataDir", cfg.DataDir)
			return nil
		},
	}
	serverFlags(cmd, &cfg)
	devServerFlags(cmd, &cfg, &devOpts) // devserver.go
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of the whole run to this file (stack samples only, no request data); for performance work")
	return cmd
}

// startCPUProfile starts a CPU profile into path ("" for none) and returns
// the function that ends it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			slog.Warn("cpu profile", "err", err)
		}
	}, nil
}
