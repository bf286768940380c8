package config

import (
	"slices"
	"testing"
)

// TestHostnames: Host and Service are inverse in both modes, and
// Azure-hostnames mode uses Azure's public names.
func TestHostnames(t *testing.T) {
	c := Default()
	c.Addr = "127.0.0.1:443"
	subs := []string{"login", "management", "graph", "contoso.managedhsm"}
	azure := map[string]string{"login": "login.microsoftonline.com", "management": "management.azure.com",
		"graph": "graph.microsoft.com", "contoso.managedhsm": "contoso.managedhsm.azure.net", "managedhsm": "managedhsm.azure.net"}
	for _, az := range []bool{false, true} {
		c.AzureHostnames = az
		for _, sub := range subs {
			h := c.Host(sub)
			if az && h != azure[sub] {
				t.Errorf("Azure Host(%q) = %q, want %q", sub, h, azure[sub])
			}
			if !az && h != sub+".mhsm.localhost" {
				t.Errorf("Host(%q) = %q", sub, h)
			}
			if got := c.Service(h); got != sub {
				t.Errorf("Service(%q) = %q, want %q (azure %v)", h, got, sub, az)
			}
		}
		for _, bad := range []string{"a.b.managedhsm.azure.net", "managedhsm.azure.net", "login.microsoftonline.com.evil", "x.managedhsm.mhsm.localhost.evil"} {
			if got := c.Service(bad); got != "" {
				t.Errorf("Service(%q) = %q, want unknown (azure %v)", bad, got, az)
			}
		}
	}
	if got := c.URL("dev.managedhsm"); got != "https://dev.managedhsm.azure.net" {
		t.Errorf("URL on 443 = %q", got)
	}
	if n := c.ServerNames(); !slices.Contains(n, "*.managedhsm.azure.net") || slices.Contains(n, c.Domain) {
		t.Errorf("ServerNames %v", n)
	}
}
