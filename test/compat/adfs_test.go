package compat

import (
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// TestADFSChallengeDefaultAzureCredential: on a custom domain, with the
// server's 401 challenge naming an ADFS-style authority
// (Config.ADFSChallenge), the same unmodified DefaultAzureCredential(nil)
// program works given AZURE_TENANT_ID=adfs and AZURE_AUTHORITY_HOST: MSAL
// skips instance discovery for ADFS authorities, so nothing asks
// login.microsoftonline.com.
func TestADFSChallengeDefaultAzureCredential(t *testing.T) {
	server(t) // root and /etc/hosts are available
	const domain = "mhsm-adfs.test"
	s := testserver.Start(t, func(c *config.Server) {
		c.Domain, c.ADFSChallenge = domain, true
		c.ThrottleHSMRate, c.ThrottlePrincipalRate = 0, 0
	})
	if err := addHosts(s.Config().Host("login"), s.Config().Host("management"), s.Config().Host("graph"),
		s.Config().Host(hsmName+".managedhsm")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = addHosts(suite.Config().Host("login"), suite.Config().Host("management"), suite.Config().Host("graph"), suite.Config().Host(hsmName+".managedhsm"))
	})
	var env []string
	for _, kv := range clientEnv(s) {
		if !strings.HasPrefix(kv, "AZURE_TENANT_ID=") {
			env = append(env, kv)
		}
	}
	env = append(env, "AZURE_TENANT_ID=adfs", "AZURE_AUTHORITY_HOST="+s.URL("login")+"/")
	runDefaultCred(t, env, s.HSMURL(hsmName)+"/")
}
