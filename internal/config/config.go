// Package config holds mhsm's server configuration: plain structs with
// documented zero values and one Validate. Read config.go.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
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
	// AzureHostnames makes the server answer as Azure's public endpoints
	// (login.microsoftonline.com, management.azure.com,
	// graph.microsoft.com, <hsm>.managedhsm.azure.net; see Host), so
	// clients with default options work on a machine that resolves those
	// names to mhsm and trusts its CA. Never on a machine that also talks
	// to real Azure. Off by default.
	AzureHostnames bool
	// ADFSChallenge names the authority in the data plane's 401 challenge
	// ADFS-style, https://login.<domain>/adfs, instead of
	// https://login.<domain>/<tenant>: MSAL then skips instance discovery,
	// so azidentity's DefaultAzureCredential works with AZURE_TENANT_ID=adfs
	// and AZURE_AUTHORITY_HOST on custom domains. Off by default.
	ADFSChallenge bool
	// PublicPort is the port clients use in URLs; 0 means the port of Addr.
	// Port 443 is omitted from every URL the server emits.
	PublicPort int
	// Dev creates a tenant, an activated HSM "dev" and an all-powerful
	// service principal, and writes <DataDir>/dev.json. Off by default.
	Dev bool
	// Ephemeral (dev mode only) keeps the store in memory: nothing but the
	// TLS, root key and audit files in DataDir outlives the process.
	Ephemeral bool
	// Seed (dev mode only) names a state file written by mhsm dev export,
	// loaded at start into a store that holds no HSM yet (devseed.go in
	// app). "" seeds nothing.
	Seed string
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
	// OpsAddr is the plain-HTTP address of /healthz, /readyz and /metrics.
	// Empty (the zero value) serves none; `mhsm server` defaults to
	// 127.0.0.1:9464.
	OpsAddr string
	// HTTP2 offers HTTP/2 (ALPN h2) beside HTTP/1.1 on the HTTPS
	// listener. Off by default: see docs/performance.md ("HTTP/2") for
	// what it costs per request.
	HTTP2 bool
	// ThrottleCapacity is the machine's data-plane capacity for fair
	// sharing, in cost units per second (a unit is about a millisecond of
	// this machine's CPU: an RSA-2048 signature costs about what it takes
	// to compute). Admission is work-conserving: nobody is refused while
	// the callers' recent work is under 90 % of it; above, only callers
	// using more than their fair share (water-filling, weighted by cost)
	// get 429 + Retry-After, and a lone caller never does. Default 1000
	// per CPU (the whole machine); zero disables fair sharing.
	ThrottleCapacity float64
	// ThrottleHSMRate and ThrottlePrincipalRate are optional hard caps
	// on the data-plane work per HSM and per caller, in the same units per
	// second, with bursts of twice the rate; they bite even when the
	// machine is idle. Zero (the default) sets no cap.
	ThrottleHSMRate, ThrottlePrincipalRate float64
	// RefreshTokenLifetime is how long a user's refresh token stays
	// redeemable (each is used once). Default 7 days; zero means no refresh
	// tokens are issued.
	RefreshTokenLifetime time.Duration
	// SigningKeyMaxAge is the age at which a tenant's token signing key is
	// replaced; the old key stays published until its tokens expire.
	// Default 30 days; zero means keys are never rotated automatically.
	SigningKeyMaxAge time.Duration
	// MSIAddr is the plain-HTTP loopback address of the managed identity
	// endpoint (App Service style: GET /msi/token with X-IDENTITY-HEADER).
	// Empty (the default) means no endpoint. It must be a loopback IP.
	MSIAddr string
	// ExternalIssuers are OIDC issuers whose tokens mhsm trusts. None by
	// default.
	ExternalIssuers []ExternalIssuer
	// Audit is the audit log (audit.go).
	Audit Audit
	// Store picks the store backend: StoreBolt (the zero value "" means
	// the same) or StoreEtcd, configured by Etcd (store.go).
	Store string
	Etcd  Etcd
	// AllowSecurityDomainRedownload lets a caller holding
	// securitydomain/download/action (the built-in Administrator) download
	// the security domain of an HSM that is already activated. Off by
	// default: a fresh download wrapped to the caller's certificates hands
	// out the key hierarchy root, which opens every backup offline, so once
	// the first download has activated the HSM further ones are refused
	// (docs/security.md).
	AllowSecurityDomainRedownload bool
}

// ExternalIssuer trusts another OIDC issuer: its tokens are verified with
// its own key set (from JWKSURL or JWKSFile, never from the token), and
// its principals are named only by immutable ids — the ObjectIDClaim, or
// a GUID derived from iss+sub (see token.ExternalObjectID).
type ExternalIssuer struct {
	// Issuer is the exact iss claim value. Required.
	Issuer string `json:"issuer"`
	// JWKSURL (https, or http on loopback) or JWKSFile holds the key set.
	// Exactly one is required.
	JWKSURL  string `json:"jwksUrl,omitempty"`
	JWKSFile string `json:"jwksFile,omitempty"`
	// Audience lets the issuer's tokens be used directly as bearer tokens
	// whose aud contains it. Empty: trusted only for federated credentials
	// of applications (workload identity).
	Audience string `json:"audience,omitempty"`
	// TenantID is the mhsm tenant whose HSMs direct tokens may use.
	// Required with Audience.
	TenantID string `json:"tenantId,omitempty"`
	// ObjectIDClaim names a claim holding a GUID object id (e.g. "oid" for
	// Entra ID). Empty: the object id is derived from iss+sub.
	ObjectIDClaim string `json:"objectIdClaim,omitempty"`
	// ExternalTenantID, when set, must equal the token's tid claim.
	ExternalTenantID string `json:"externalTenantId,omitempty"`
	// GroupsClaim names the claim listing group ids. Empty: "groups".
	GroupsClaim string `json:"groupsClaim,omitempty"`
}

// Default returns the embedded defaults.
func Default() Server {
	return Server{
		Addr:             "127.0.0.1:8443",
		DataDir:          "./mhsm-data",
		Domain:           "mhsm.localhost",
		TokenLifetime:    time.Hour,
		RotationInterval: time.Minute,
		ThrottleCapacity: 1000 * float64(runtime.NumCPU()),

		RefreshTokenLifetime: 7 * 24 * time.Hour,
		SigningKeyMaxAge:     30 * 24 * time.Hour,

		Audit: DefaultAudit(),
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
	if c.TokenLifetime > 24*time.Hour {
		errs = append(errs, errors.New("token lifetime must be at most 24h"))
	}
	if c.RefreshTokenLifetime < 0 || c.SigningKeyMaxAge < 0 {
		errs = append(errs, errors.New("refresh token lifetime and signing key max age must not be negative"))
	}
	if c.SigningKeyMaxAge != 0 && c.SigningKeyMaxAge < 2*c.TokenLifetime {
		errs = append(errs, errors.New("signing key max age must be at least twice the token lifetime"))
	}
	if c.MSIAddr != "" {
		host, _, err := net.SplitHostPort(c.MSIAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			errs = append(errs, fmt.Errorf("msi addr %q must be a loopback IP and port, such as 127.0.0.1:8080", c.MSIAddr))
		}
	}
	for i, e := range c.ExternalIssuers {
		errs = append(errs, e.validate(i))
	}
	errs = append(errs, c.Audit.validate()...)
	errs = append(errs, c.validateStore()...)
	errs = append(errs, c.validateDev()) // dev.go
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

// URL returns "https://<host of sub>[:port]" (see Host; sub may be empty).
func (c *Server) URL(sub string) string {
	return "https://" + c.HostPort(c.Host(sub))
}

func (e ExternalIssuer) validate(i int) error {
	var errs []error
	name := fmt.Sprintf("external issuer %d (%s)", i, e.Issuer)
	if e.Issuer == "" {
		errs = append(errs, fmt.Errorf("%s: issuer is required", name))
	}
	if (e.JWKSURL == "") == (e.JWKSFile == "") {
		errs = append(errs, fmt.Errorf("%s: exactly one of jwksUrl and jwksFile is required", name))
	}
	if e.JWKSURL != "" {
		u, err := url.Parse(e.JWKSURL)
		loopback := false
		if err == nil {
			ip := net.ParseIP(u.Hostname())
			loopback = u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
		}
		if err != nil || !(u.Scheme == "https" || (u.Scheme == "http" && loopback)) {
			errs = append(errs, fmt.Errorf("%s: jwksUrl must be https (http only on loopback)", name))
		}
	}
	if e.Audience != "" && e.TenantID == "" {
		errs = append(errs, fmt.Errorf("%s: tenantId is required with audience", name))
	}
	return errors.Join(errs...)
}
