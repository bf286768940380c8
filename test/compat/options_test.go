package compat

import (
	"crypto/tls"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/mhsm/mhsm/internal/testserver"
)

// defaultClientOptions are azcore's defaults (public cloud, instance
// discovery on) with only a transport that trusts the suite's CA and
// resolves names through /etc/hosts like any process.
func defaultClientOptions(s *testserver.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.Pool, MinVersion: tls.VersionTLS12}}},
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}
