package config

import "strings"

// Azure's public-cloud host names, answered in Azure-hostnames mode.
const (
	AzureLoginHost      = "login.microsoftonline.com"
	AzureManagementHost = "management.azure.com"
	AzureGraphHost      = "graph.microsoft.com"
	AzureHSMSuffix      = "managedhsm.azure.net"
)

// Host returns the DNS name of a service: sub is "login", "management",
// "graph", "console" (always console.<Domain>), "managedhsm" (the
// data-plane resource) or "<hsm>.managedhsm";
// "" is the bare domain. Normally these are <sub>.<Domain>; with
// AzureHostnames they are Azure's public names (login.microsoftonline.com,
// management.azure.com, graph.microsoft.com, <hsm>.managedhsm.azure.net).
func (c *Server) Host(sub string) string {
	if c.AzureHostnames {
		switch {
		case sub == "login":
			return AzureLoginHost
		case sub == "management":
			return AzureManagementHost
		case sub == "graph":
			return AzureGraphHost
		case sub == "managedhsm":
			return AzureHSMSuffix
		case strings.HasSuffix(sub, ".managedhsm"):
			return sub + "." + strings.TrimPrefix(AzureHSMSuffix, "managedhsm.")
		}
	}
	if sub == "" {
		return c.Domain
	}
	return sub + "." + c.Domain
}

// Service maps a request host (lower-case, no port, no trailing dot) to the
// service that answers it: "login", "management", "graph", "console" or
// "<hsm>.managedhsm" ("" for an unknown host). It is the inverse of Host.
func (c *Server) Service(host string) string {
	for _, sub := range []string{"login", "management", "graph", "console"} {
		if host == strings.ToLower(c.Host(sub)) {
			return sub
		}
	}
	suffix := "." + strings.ToLower(c.Host("managedhsm"))
	if name, ok := strings.CutSuffix(host, suffix); ok && name != "" && !strings.Contains(name, ".") {
		return name + ".managedhsm"
	}
	return ""
}

// ServerNames are the DNS names the server's TLS certificate must cover.
func (c *Server) ServerNames() []string {
	names := []string{c.Host("login"), c.Host("management"), c.Host("graph"), c.Host("console"), c.Host("managedhsm"), "*." + c.Host("managedhsm")}
	if !c.AzureHostnames {
		names = append(names, c.Domain)
	}
	return append(names, "localhost")
}
