// Package compat is the drop-in compatibility suite: real Azure clients,
// unmodified except for their environment, against one mhsm server in
// Azure-hostnames mode (login.microsoftonline.com, management.azure.com,
// graph.microsoft.com, dev.managedhsm.azure.net on 127.0.0.1:443, its
// private CA trusted through SSL_CERT_FILE / REQUESTS_CA_BUNDLE /
// NODE_EXTRA_CA_CERTS). Every request the server answers is recorded
// (recorder_test.go); a request it did not understand (no route, method
// not allowed, unsupported parameter) fails the suite and is printed. The
// recorded table is docs/compatibility.md (written with
// MHSM_WRITE_COMPAT_DOC=1, checked otherwise; MHSM_COMPAT_DUMP=<file>
// writes every recorded request there).
//
// The suite needs root: it adds its names to /etc/hosts (and removes them
// afterwards) and listens on port 443. Without root it skips, unless
// MHSM_REQUIRE_COMPAT is set (scripts/test.sh sets it), where it fails.
// Read compat_test.go, then recorder_test.go.
package compat

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// hsmName is the dev HSM; its URL is https://dev.managedhsm.azure.net.
const hsmName = "dev"

var (
	suite    *testserver.Server
	rec      = &recorder{}
	startErr error
	// clientsRun names the client families whose tests ran to the end,
	// for the generated document's completeness check.
	clientsRun sync.Map
)

func TestMain(m *testing.M) {
	code := run(m)
	os.Exit(code)
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		startErr = fmt.Errorf("the compatibility suite needs root (it edits /etc/hosts and listens on 443)")
	} else {
		startErr = startSuite()
	}
	defer stopSuite()
	code := m.Run()
	if code == 0 && suite != nil {
		if err := rec.finish(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: compat:", err)
			return 1
		}
	}
	return code
}

// startSuite starts the Azure-hostnames server on 127.0.0.1:443 and maps
// its names to 127.0.0.1 in /etc/hosts.
func startSuite() error {
	dir, err := os.MkdirTemp("", "mhsm-compat-")
	if err != nil {
		return err
	}
	cfg := config.Default()
	cfg.Addr, cfg.DataDir, cfg.Dev, cfg.AzureHostnames = "127.0.0.1:443", dir, true, true
	cfg.MSIAddr = "127.0.0.1:0"
	cfg.ThrottleHSMRate, cfg.ThrottlePrincipalRate = 0, 0
	if err := addHosts(cfg.Host("login"), cfg.Host("management"), cfg.Host("graph"), cfg.Host(hsmName+".managedhsm")); err != nil {
		return err
	}
	s, err := testserver.StartConfigWrapped(cfg, rec.wrap)
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	suite = s
	return nil
}

func stopSuite() {
	if suite != nil {
		dir := suite.Config().DataDir
		suite.Stop()
		_ = os.RemoveAll(dir)
	}
	if err := removeHosts(); err != nil {
		fmt.Fprintln(os.Stderr, "compat: could not restore /etc/hosts:", err)
	}
}

// server returns the suite's server, or skips the test (fails under
// MHSM_REQUIRE_COMPAT) when it could not start.
func server(t *testing.T) *testserver.Server {
	t.Helper()
	if startErr != nil {
		if os.Getenv("MHSM_REQUIRE_COMPAT") != "" {
			t.Fatalf("MHSM_REQUIRE_COMPAT is set but the suite cannot run: %v", startErr)
		}
		t.Skipf("compatibility suite not run: %v (set MHSM_REQUIRE_COMPAT=1 to make this a failure)", startErr)
	}
	return suite
}

// clientEnv is the environment every client process gets: the CA trusted
// by each language's usual variable, and the dev service principal in
// azidentity's/azure-identity's EnvironmentCredential variables. Nothing
// else: no authority, no endpoint, no instance-discovery switch.
func clientEnv(s *testserver.Server) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		switch k, _, _ := cut(kv); k {
		case "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID",
			"AZURE_AUTHORITY_HOST", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "IDENTITY_ENDPOINT", "MSI_ENDPOINT":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "SSL_CERT_FILE="+s.Dev.CAFile, "REQUESTS_CA_BUNDLE="+s.Dev.CAFile, "NODE_EXTRA_CA_CERTS="+s.Dev.CAFile,
		"AZURE_CLIENT_ID="+s.Dev.ClientID, "AZURE_CLIENT_SECRET="+s.Dev.ClientSecret, "AZURE_TENANT_ID="+s.Dev.TenantID)
}

func cut(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}
