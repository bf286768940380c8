package app

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/client"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// DevInfo is the dev-mode contract written to <data-dir>/dev.json
// (client.Dev, its one declaration).
type DevInfo = client.Dev

func writeDev(d *DevInfo, path string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// devState is what dev mode remembers across restarts; the client secret is
// sealed by the system data key. It is saved after each step, so a server
// killed half-way through the first start resumes where it stopped.
type devState struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ObjectID     string `json:"objectId"`
	SealedSecret []byte `json:"sealedSecret"`
	HSMReady     bool   `json:"hsmReady"`
}

const devStateKey = "sys/dev"

func saveDevState(ctx context.Context, st store.Backend, ds *devState) error {
	b, err := json.Marshal(ds)
	if err != nil {
		return err
	}
	return st.Update(ctx, func(tx store.Tx) error { return tx.Put(devStateKey, b) })
}

// ensureDev makes (once) the dev tenant, a service principal with a secret,
// and an activated HSM "dev" on which that principal holds Administrator,
// Crypto Officer and Crypto User at "/". The principal is also the
// tenant administrator of the directory (it may manage it through Graph).
// Every step is idempotent and recorded, so an interrupted first start
// completes on the next.
func ensureDev(ctx context.Context, st store.Backend, sys *barrier.DataKey, dir *directory.Directory, hsms *hsm.Service, cfg *config.Server, caFile string) (*DevInfo, error) {
	var ds devState
	err := st.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(devStateKey)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &ds)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if ds.TenantID == "" {
		tid, err := dir.TenantOfDomain(ctx, cfg.Domain)
		if errors.Is(err, directory.ErrNotFound) {
			var t *directory.Tenant
			if t, err = dir.CreateTenant(ctx, "mhsm dev tenant", cfg.Domain); err == nil {
				tid = t.ID
			}
		}
		if err != nil {
			return nil, err
		}
		ds.TenantID = tid
		if err := saveDevState(ctx, st, &ds); err != nil {
			return nil, err
		}
	}
	if ds.ClientID == "" || ds.SealedSecret == nil {
		sp, err := dir.CreateServicePrincipal(ctx, ds.TenantID, "mhsm-dev")
		if err != nil {
			return nil, err
		}
		if err := dir.MakeAdministrator(ctx, ds.TenantID, sp.ObjectID); err != nil {
			return nil, err
		}
		secret, err := dir.AddSecret(ctx, ds.TenantID, sp.AppID, 10*365*24*time.Hour)
		if err != nil {
			return nil, err
		}
		ds.ClientID, ds.ObjectID, ds.SealedSecret = sp.AppID, sp.ObjectID, sys.Seal([]byte(secret), []byte(devStateKey))
		if err := saveDevState(ctx, st, &ds); err != nil {
			return nil, err
		}
	}
	if ds.ObjectID == "" { // state written before object ids were recorded
		sp, err := dir.ServicePrincipal(ctx, ds.TenantID, ds.ClientID)
		if err != nil {
			return nil, err
		}
		ds.ObjectID = sp.ObjectID
	}
	if !ds.HSMReady {
		h, ok := hsms.Get("dev")
		if !ok {
			if h, err = hsms.Create(ctx, hsm.CreateParams{Name: "dev", TenantID: ds.TenantID, Activated: true}); err != nil {
				return nil, err
			}
		}
		for _, role := range []string{rbac.RoleAdministrator, rbac.RoleCryptoOfficer, rbac.RoleCryptoUser} {
			id := uuid.NewSHA1(uuid.NameSpaceOID, []byte("mhsm-dev/"+ds.ObjectID+"/"+role)).String()
			if _, err := hsms.Assign(ctx, h, rbac.RoleAssignment{ID: id, Scope: "/", RoleDefinitionID: role, PrincipalID: ds.ObjectID}); err != nil {
				return nil, err
			}
		}
		ds.HSMReady = true
		if err := saveDevState(ctx, st, &ds); err != nil {
			return nil, err
		}
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
