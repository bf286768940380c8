package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/config"
)

// identityServerFlags binds the identity settings of `mhsm server`.
func identityServerFlags(cmd *cobra.Command, cfg *config.Server) {
	f := cmd.Flags()
	f.StringVar(&cfg.MSIAddr, "msi-addr", cfg.MSIAddr, "loopback address of the managed identity endpoint, e.g. 127.0.0.1:8080 (default: off)")
	f.DurationVar(&cfg.RefreshTokenLifetime, "refresh-token-lifetime", cfg.RefreshTokenLifetime, "lifetime of users' refresh tokens (0: none issued)")
	f.DurationVar(&cfg.SigningKeyMaxAge, "signing-key-max-age", cfg.SigningKeyMaxAge, "age at which token signing keys rotate (0: never)")
	f.Var(&externalIssuersFlag{cfg: cfg}, "external-issuers", "JSON file with an array of trusted external OIDC issuers")
}

// externalIssuersFlag loads a JSON array of config.ExternalIssuer.
type externalIssuersFlag struct {
	cfg  *config.Server
	path string
}

func (f *externalIssuersFlag) String() string { return f.path }
func (f *externalIssuersFlag) Type() string   { return "file" }
func (f *externalIssuersFlag) Set(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var list []config.ExternalIssuer
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f.path, f.cfg.ExternalIssuers = path, list
	return nil
}
