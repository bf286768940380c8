package mgmt

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/store"
)

// Storage accounts are management-plane resources, as in Azure: an account
// lives in one resource group of one subscription, its name is unique
// server-wide, and naming it as a destination (of audit logs, of backups)
// is a linked write that the caller must be allowed at the account's own
// scope. mhsm has no storage resource provider, so an account comes into
// being in one of two ways:
//
//   - the operator configures it (a named audit destination, possibly real
//     blob storage written with the server's own credentials) and binds it
//     to a subscription, optionally a resource group
//     (Options.StorageAccounts); an operator account without a binding is
//     never reachable from the API;
//   - otherwise, with a storage root, the first accepted reference to
//     /subscriptions/S/resourceGroups/G/providers/Microsoft.Storage/storageAccounts/N
//     creates account N there, as creating it in Azure would: from then on
//     N is that resource and no other id may name it.
//
// Either way the caller must hold Microsoft.Storage/storageAccounts/write
// at the account's scope (Owner or Contributor at the subscription or
// resource group grant it; Managed HSM Contributor does not), and the
// account's subscription must belong to the caller's tenant.

// Requester is the authenticated principal of a management request, for
// checks made beyond the route's own action (linked resources).
type Requester struct {
	TenantID  string
	Principal armrbac.Principal
}

// StorageAccount is a resolved storage account.
type StorageAccount struct {
	// ID is the account's ARM id as it is bound (canonical case from its
	// binding or first reference).
	ID            string
	Subscription  string
	ResourceGroup string
	// Name is the account name, lower case: the key of a configured
	// destination or a directory under the storage root.
	Name string
	// Configured reports an account of the server configuration.
	Configured bool
}

// storageRecord binds an account under the storage root to its id.
type storageRecord struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

func storageKey(name string) string { return "mgmt/storage/" + strings.ToLower(name) }

// linkedInvalid and linkedDenied are the answers of ResolveStorageAccount:
// 400 when the id names no account the caller's tenant has, 403 when the
// caller may not write to it.
func linkedInvalid(id, why string) error {
	return badRequest("LinkedInvalidPropertyId", "storageAccountId '%s' is invalid: %s", id, why)
}

func linkedDenied(c Requester, id, why string) error {
	return &Error{Kind: KindForbidden, Code: "LinkedAuthorizationFailed",
		Message: "The client with object id '" + c.Principal.ObjectID + "' does not have permission to perform action '" +
			string(armrbac.StorageAccountsWrite) + "' on the linked scope '" + id + "': " + why}
}

// parseStorageAccountID checks that id is a storage account's ARM id.
func parseStorageAccountID(id string) (armrbac.Scope, error) {
	sa, err := armrbac.ParseScope(id)
	if err != nil || sa.ResourceGroup == "" || !strings.EqualFold(sa.Provider, "Microsoft.Storage") || len(sa.Types) != 1 ||
		!strings.EqualFold(sa.Types[0], "storageAccounts") || !storageAccountPattern.MatchString(sa.Names[0]) {
		return armrbac.Scope{}, badRequest("BadRequest", "storageAccountId '%s' is not the id of a storage account (/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{3-24 lower-case letters and digits}).", id)
	}
	return sa, nil
}

// ResolveStorageAccount resolves the storage account id (a full ARM id) that
// caller names as a destination for data the server writes — diagnostic
// settings' audit logs, and full backups — and checks the caller may:
//
//   - the id is well formed (else 400 BadRequest);
//   - its subscription exists, belongs to the caller's tenant, and has the
//     resource group (else 400 LinkedInvalidPropertyId; a subscription of
//     another tenant is answered exactly like a missing one);
//   - the caller holds Microsoft.Storage/storageAccounts/write at the
//     account's scope (else 403 LinkedAuthorizationFailed);
//   - the account name is bound to this id: an operator-configured account
//     to the subscription (and resource group) the operator gave, an account
//     under the storage root to the id of its first reference (else 403
//     LinkedAuthorizationFailed). An unbound account under the storage root
//     is bound now, so resolving has that one side effect.
//
// Without a storage root, only configured accounts resolve. Errors are
// *Error values with public messages; anything else is a store failure.
func (s *Service) ResolveStorageAccount(ctx context.Context, caller Requester, id string) (*StorageAccount, error) {
	sa, err := parseStorageAccountID(id)
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(sa.Names[0])
	sub, err := s.Subscription(ctx, sa.Subscription)
	if IsNotFound(err) || (err == nil && !strings.EqualFold(sub.TenantID, caller.TenantID)) {
		return nil, linkedInvalid(id, "subscription '"+sa.Subscription+"' is not a subscription of your tenant.")
	}
	if err != nil {
		return nil, err
	}
	if err := s.st.View(ctx, func(tx store.Tx) error { _, err := getRG(tx, sa.Subscription, sa.ResourceGroup); return err }); err != nil {
		if IsNotFound(err) {
			return nil, linkedInvalid(id, "resource group '"+sa.ResourceGroup+"' does not exist in subscription '"+sa.Subscription+"'.")
		}
		return nil, err
	}
	if !s.Policy().Decide(caller.Principal, armrbac.StorageAccountsWrite, sa).Allowed {
		return nil, linkedDenied(caller, id, "the caller needs this action at the storage account, its resource group or its subscription (Owner or Contributor grant it).")
	}
	out := &StorageAccount{ID: sa.String(), Subscription: sa.Subscription, ResourceGroup: sa.ResourceGroup, Name: name}
	if bound, ok := s.o.StorageAccounts[name]; ok {
		if bound.Subscription == "" || !bound.Contains(sa) {
			return nil, linkedDenied(caller, id, "storage account '"+name+"' is configured by the operator for another subscription or resource group.")
		}
		out.Configured = true
		return out, nil
	}
	if s.o.StorageRoot == "" {
		return nil, linkedInvalid(id, "storage account '"+name+"' is not configured on this server.")
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		var rec storageRecord
		err := store.GetJSON(tx, storageKey(name), &rec)
		if errors.Is(err, store.ErrNotFound) {
			return store.PutJSON(tx, storageKey(name), storageRecord{ID: out.ID, Created: s.o.Now().UTC()})
		}
		if err != nil {
			return err
		}
		if !strings.EqualFold(rec.ID, out.ID) {
			return linkedDenied(caller, id, "storage account name '"+name+"' belongs to another resource.")
		}
		out.ID = rec.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// bindStoredAccounts binds each account that stored diagnostic settings
// already name (settings made before accounts were bound) to the id of
// the first of them, so the names in use cannot be taken over.
func (s *Service) bindStoredAccounts(ctx context.Context, ds []diagRecord) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		for _, d := range ds {
			if _, ok := s.o.StorageAccounts[d.StorageAcct]; ok || d.StorageAcct == "" {
				continue
			}
			if _, err := tx.Get(storageKey(d.StorageAcct)); err == nil {
				continue
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := store.PutJSON(tx, storageKey(d.StorageAcct), storageRecord{ID: d.Properties.StorageAccountID, Created: d.Updated}); err != nil {
				return err
			}
		}
		return nil
	})
}
