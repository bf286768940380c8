package main

import "testing"

// TestHostsAzure: `mhsm hosts --azure` maps Azure's public names (the ones
// clients use by default) to the server; without it, the domain's names.
func TestHostsAzure(t *testing.T) {
	if got, want := cli(t, "hosts", "--azure", "--hsm", "contoso,dev"),
		"127.0.0.1 login.microsoftonline.com management.azure.com graph.microsoft.com contoso.managedhsm.azure.net dev.managedhsm.azure.net\n"; got != want {
		t.Errorf("hosts --azure:\n got %q\nwant %q", got, want)
	}
	if got, want := cli(t, "hosts", "--domain", "mhsm.test"),
		"127.0.0.1 login.mhsm.test management.mhsm.test graph.mhsm.test dev.managedhsm.mhsm.test\n"; got != want {
		t.Errorf("hosts:\n got %q\nwant %q", got, want)
	}
}
