// Package config holds mhsm's server configuration: plain structs with
// documented zero values and one Validate. Read config.go.
package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Server is the configuration of `mhsm server`. The zero value is not valid;
// start from Default().
type Server struct {
	// Addr is the HTTPS listen address. Default 127.0.0.1:8443.
	Addr string
	// DataDir holds the store, the root key and the generated TLS material.
	// Default ./mhsm-data.
	DataDir string
	// Domain is the DNS suffix: login.<Domain>, management.<Domain>,
	// graph.<Domain> and <hsm>.managedhsm.<Domain>. Default mhsm.localhost.
	Domain string
	// PublicPort is the port clients use in URLs; 0 means the port of Addr.
	// Port 443 is omitted from every URL the server emits.
	PublicPort int
	// Dev creates a tenant, an activated HSM "dev" and an all-powerful
	// service principal, and writes <DataDir>/dev.json. Off by default.
	Dev bool
	// TLSCert and TLSKey name a PEM certificate and key to serve instead of
	// the generated ones. Both or neither.
	TLSCert, TLSKey string
	// RootKeyFile names an existing 32-byte root key; empty means
	// <DataDir>/root.key, created on first start.
	RootKeyFile string
	// TokenLifetime is the lifetime of issued access tokens. Default 1h.
	TokenLifetime time.Duration
	// RotationInterval is how often the automatic key rotation scan runs.
	// Default 1m.
	RotationInterval time.Duration
}

// Default returns the embedded defaults.
func Default() Server {
	return Server{
		Addr:             "127.0.0.1:8443",
		DataDir:          "./mhsm-data",
		Domain:           "mhsm.localhost",
		TokenLifetime:    time.Hour,
		RotationInterval: time.Minute,
	}
}

// Validate reports every problem at once.
func (c *Server) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir must be set"))
	}
	if c.Domain == "" || strings.ContainsAny(c.Domain, "/: ") || strings.HasPrefix(c.Domain, ".") {
		errs = append(errs, fmt.Errorf("domain %q must be a DNS name such as mhsm.localhost", c.Domain))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together"))
	}
	if c.PublicPort < 0 || c.PublicPort > 65535 {
		errs = append(errs, fmt.Errorf("public port %d out of range", c.PublicPort))
	}
	if c.TokenLifetime < time.Minute {
		errs = append(errs, errors.New("token lifetime must be at least 1m"))
	}
	if c.RotationInterval <= 0 {
		errs = append(errs, errors.New("rotation interval must be positive"))
	}
	return errors.Join(errs...)
}

// Port returns the port clients use: PublicPort, or the port of Addr.
func (c *Server) Port() int {
	if c.PublicPort != 0 {
		return c.PublicPort
	}
	_, p, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return 443
	}
	n, _ := strconv.Atoi(p)
	return n
}

// HostPort returns name with ":port" appended unless the port is 443.
func (c *Server) HostPort(name string) string {
	if p := c.Port(); p != 443 && p != 0 {
		return name + ":" + strconv.Itoa(p)
	}
	return name
}

// URL returns "https://<sub>.<domain>[:port]" (sub may be empty).
func (c *Server) URL(sub string) string {
	host := c.Domain
	if sub != "" {
		host = sub + "." + c.Domain
	}
	return "https://" + c.HostPort(host)
}
