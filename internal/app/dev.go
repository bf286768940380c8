package app

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// DevInfo is the dev-mode contract written to <data-dir>/dev.json; tests
// and tools rely on these exact field names.
type DevInfo struct {
	TenantID      string `json:"tenantId"`
	AuthorityHost string `json:"authorityHost"`
	ClientID      string `json:"clientId"`
	ClientSecret  string `json:"clientSecret"`
	HSMURL        string `json:"hsmUrl"`
	ManagementURL string `json:"managementUrl"`
	CAFile        string `json:"caFile"`
	// SubscriptionID and ResourceGroup locate the dev HSM in the management
	// plane; the dev principal is Owner of the subscription (management.go).
	SubscriptionID string `json:"subscriptionId"`
	ResourceGroup  string `json:"resourceGroup"`
}

func (d *DevInfo) write(path string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// devState is what dev mode remembers across restarts; the client secret is
// sealed by the system data key.
type devState struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	SealedSecret []byte `json:"sealedSecret"`
}

const devStateKey = "sys/dev"

// ensureDev makes (once) the dev tenant, a service principal with a secret,
// and an activated HSM "dev" on which that principal holds Administrator,
// Crypto Officer and Crypto User at "/". The principal is also the
// tenant administrator of the directory (it may manage it through Graph).
func ensureDev(ctx context.Context, st store.Backend, sys *barrier.DataKey, dir *directory.Directory, hsms *hsm.Service, cfg *config.Server, caFile string) (*DevInfo, error) {
	var ds devState
	err := st.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(devStateKey)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &ds)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		t, err := dir.CreateTenant(ctx, "mhsm dev tenant", cfg.Domain)
		if err != nil {
			return nil, err
		}
		sp, err := dir.CreateServicePrincipal(ctx, t.ID, "mhsm-dev")
		if err != nil {
			return nil, err
		}
		if err := dir.MakeAdministrator(ctx, t.ID, sp.ObjectID); err != nil {
			return nil, err
		}
		secret, err := dir.AddSecret(ctx, t.ID, sp.AppID, 10*365*24*time.Hour)
		if err != nil {
			return nil, err
		}
		h, err := hsms.Create(ctx, hsm.CreateParams{Name: "dev", TenantID: t.ID, Admins: []string{sp.ObjectID}, Activated: true})
		if err != nil {
			return nil, err
		}
		for _, role := range []string{rbac.RoleCryptoOfficer, rbac.RoleCryptoUser} {
			if _, err := hsms.Assign(ctx, h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: role, PrincipalID: sp.ObjectID}); err != nil {
				return nil, err
			}
		}
		ds = devState{TenantID: t.ID, ClientID: sp.AppID, SealedSecret: sys.Seal([]byte(secret), []byte(devStateKey))}
		b, _ := json.Marshal(ds)
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.Put(devStateKey, b) }); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	secret, err := sys.Open(ds.SealedSecret, []byte(devStateKey))
	if err != nil {
		return nil, err
	}
	return &DevInfo{
		TenantID: ds.TenantID, AuthorityHost: cfg.URL("login") + "/", ClientID: ds.ClientID, ClientSecret: string(secret),
		HSMURL: cfg.URL("dev.managedhsm") + "/", ManagementURL: cfg.URL("management") + "/", CAFile: caFile,
	}, nil
}
