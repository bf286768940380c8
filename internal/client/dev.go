package client

import (
	"encoding/json"
	"fmt"
	"os"
)

// Dev is the dev.json a dev-mode server writes to <data-dir>/dev.json:
// where it is and the credentials of its dev service principal. It is the
// one declaration of that file's shape — the server writes it
// (internal/app), and the CLI, the load generator and the tests read it —
// and tools rely on these exact field names.
type Dev struct {
	TenantID      string `json:"tenantId"`
	AuthorityHost string `json:"authorityHost"`
	ClientID      string `json:"clientId"`
	ClientSecret  string `json:"clientSecret"`
	HSMURL        string `json:"hsmUrl"`
	ManagementURL string `json:"managementUrl"`
	CAFile        string `json:"caFile"`
	// SubscriptionID and ResourceGroup locate the dev HSM in the
	// management plane; the dev principal is Owner of the subscription.
	SubscriptionID string `json:"subscriptionId"`
	ResourceGroup  string `json:"resourceGroup"`
	// Addr is the address the server listens on (host:port): connect
	// every name above to it (app/devca.go).
	Addr string `json:"addr"`
	// CAP12File is the dev CA certificate as a PKCS#12 trust store (for
	// Java and .NET clients), protected by CAP12Password (app/devca.go).
	CAP12File     string `json:"caP12File,omitempty"`
	CAP12Password string `json:"caP12Password,omitempty"`
}

// ReadDev reads a dev.json file.
func ReadDev(path string) (Dev, error) {
	var d Dev
	b, err := os.ReadFile(path)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}
