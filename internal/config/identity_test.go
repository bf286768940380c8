package config

import (
	"strings"
	"testing"
	"time"
)

func TestIdentityConfigValidation(t *testing.T) {
	ok := Default()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		mod  func(*Server)
		want string // substring of the error; "" means valid
	}{
		{"msi loopback", func(c *Server) { c.MSIAddr = "127.0.0.1:8080" }, ""},
		{"msi ipv6 loopback", func(c *Server) { c.MSIAddr = "[::1]:0" }, ""},
		{"msi public", func(c *Server) { c.MSIAddr = "0.0.0.0:8080" }, "loopback"},
		{"msi name", func(c *Server) { c.MSIAddr = "localhost:8080" }, "loopback"},
		{"negative refresh", func(c *Server) { c.RefreshTokenLifetime = -time.Second }, "negative"},
		{"key age too short", func(c *Server) { c.SigningKeyMaxAge = time.Hour }, "twice"},
		{"key rotation off", func(c *Server) { c.SigningKeyMaxAge = 0 }, ""},
		{"token lifetime too long", func(c *Server) { c.TokenLifetime = 48 * time.Hour; c.SigningKeyMaxAge = 0 }, "24h"},
		{"external ok", func(c *Server) {
			c.ExternalIssuers = []ExternalIssuer{{Issuer: "https://idp", JWKSURL: "https://idp/keys", Audience: "api://x", TenantID: "t"}}
		}, ""},
		{"external http loopback", func(c *Server) {
			c.ExternalIssuers = []ExternalIssuer{{Issuer: "https://idp", JWKSURL: "http://127.0.0.1:9/keys"}}
		}, ""},
		{"external http remote", func(c *Server) {
			c.ExternalIssuers = []ExternalIssuer{{Issuer: "https://idp", JWKSURL: "http://idp.example/keys"}}
		}, "https"},
		{"external no keys", func(c *Server) { c.ExternalIssuers = []ExternalIssuer{{Issuer: "https://idp"}} }, "exactly one"},
		{"external both keys", func(c *Server) {
			c.ExternalIssuers = []ExternalIssuer{{Issuer: "https://idp", JWKSURL: "https://idp/k", JWKSFile: "/k"}}
		}, "exactly one"},
		{"external audience without tenant", func(c *Server) {
			c.ExternalIssuers = []ExternalIssuer{{Issuer: "https://idp", JWKSFile: "/k", Audience: "api://x"}}
		}, "tenantId"},
		{"external no issuer", func(c *Server) { c.ExternalIssuers = []ExternalIssuer{{JWKSFile: "/k"}} }, "issuer is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			c.mod(&cfg)
			err := cfg.Validate()
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate() = %v, want %q", err, c.want)
			}
		})
	}
}
