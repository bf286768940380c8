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
