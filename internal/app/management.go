package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/mgmt"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Management returns the management plane (for tests and tools).
func (a *App) Management() *mgmt.Service { return a.mgmt }

// newManagement builds the management plane. Diagnostic settings take
// effect through sink (nil: kept, delivering nothing); storage accounts
// are directories under the audit storage root.
func newManagement(ctx context.Context, st store.Backend, hsms *hsm.Service, dir *directory.Directory, cfg *config.Server, sink mgmt.DiagnosticSink) (*mgmt.Service, error) {
	accounts, err := storageAccounts(&cfg.Audit)
	if err != nil {
		return nil, err
	}
	return mgmt.New(ctx, st, hsms, mgmt.Options{
		HSMURL:          func(name string) string { return cfg.URL(name+".managedhsm") + "/" },
		Directory:       mgmtDirectory{dir},
		Sink:            sink,
		StorageRoot:     cfg.AuditStorageRoot(),
		StorageAccounts: accounts,
	})
}

// storageAccounts are the configured audit destinations, each bound to the
// scope of its DestinationScopes entry (none: the zero Scope, which no
// request can name).
func storageAccounts(a *config.Audit) (map[string]armrbac.Scope, error) {
	out := map[string]armrbac.Scope{}
	for _, d := range a.Destinations {
		name, _, _ := strings.Cut(d, "=")
		out[name] = armrbac.Scope{}
	}
	for _, b := range a.DestinationScopes {
		name, scope, err := config.ParseDestinationScope(b)
		if err != nil {
			return nil, err
		}
		sc, err := armrbac.ParseScope(scope)
		if err != nil {
			return nil, fmt.Errorf("audit destination scope %s: %w", name, err)
		}
		out[name] = sc
	}
	return out, nil
}

// mgmtDirectory adapts the directory to mgmt.Directory.
type mgmtDirectory struct{ dir *directory.Directory }

func (d mgmtDirectory) PrincipalKind(ctx context.Context, tid, oid string) (string, error) {
	kind, err := d.dir.ObjectKind(ctx, tid, oid)
	if errors.Is(err, directory.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	switch kind {
	case directory.KindUser:
		return mgmt.PrincipalUser, nil
	case directory.KindGroup:
		return mgmt.PrincipalGroup, nil
	case directory.KindServicePrincipal:
		return mgmt.PrincipalServicePrincipal, nil
	}
	return "", nil
}

// Dev-mode management: a subscription "mhsm dev subscription" of the dev
// tenant whose Owner is the dev service principal, with a resource group
// holding the dev HSM. Made once; remembered under devMgmtKey.
const (
	devMgmtKey       = "sys/devmgmt"
	DevResourceGroup = "mhsm-dev"
	devLocation      = "local"
)

func ensureDevManagement(ctx context.Context, st store.Backend, m *mgmt.Service, dir *directory.Directory, dev *DevInfo) error {
	// Each step is idempotent and the subscription id is chosen (and kept)
	// first, so a start killed half-way is completed by the next one.
	var subID string
	err := st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(devMgmtKey)
		if errors.Is(err, store.ErrNotFound) {
			subID = uuid.NewString()
			return tx.Put(devMgmtKey, []byte(subID))
		}
		subID = string(b)
		return err
	})
	if err != nil {
		return err
	}
	sp, err := dir.ServicePrincipal(ctx, dev.TenantID, dev.ClientID)
	if err != nil {
		return err
	}
	if _, err := m.Subscription(ctx, subID); mgmt.IsNotFound(err) {
		if _, err := m.CreateSubscription(ctx, dev.TenantID, "mhsm dev subscription", subID); err != nil && !isConflict(err) {
			return err
		}
	} else if err != nil {
		return err
	}
	scope := armrbac.SubscriptionScope(subID)
	if !m.Policy().Decide(armrbac.Principal{ObjectID: sp.ObjectID}, armrbac.RoleAssignmentsWrite, scope).Allowed {
		if _, err := m.Assign(ctx, scope, armrbac.RoleOwner, sp.ObjectID); err != nil {
			return err
		}
	}
	if _, _, err := m.PutResourceGroup(ctx, subID, DevResourceGroup, wire.ResourceGroup{Location: devLocation}); err != nil {
		return err
	}
	if err := m.Adopt(ctx, subID, DevResourceGroup, "dev", devLocation, []string{sp.ObjectID}); err != nil && !isConflict(err) {
		return err
	}
	dev.SubscriptionID, dev.ResourceGroup = subID, DevResourceGroup
	return nil
}

func isConflict(err error) bool {
	e, ok := mgmt.AsError(err)
	return ok && e.Kind == mgmt.KindConflict
}
