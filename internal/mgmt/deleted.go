package mgmt

import (
	"context"
	"errors"
	"strings"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// DeletedHSMType is the ARM type of a soft-deleted HSM.
const DeletedHSMType = "Microsoft.KeyVault/deletedManagedHSMs"

func deletedID(sub, location, name string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.KeyVault/locations/" + location + "/deletedManagedHSMs/" + name
}

func deletedNotFound(name string) error {
	return notFound("ResourceNotFound", "The deleted managed HSM '%s' was not found.", name)
}

func wireDeleted(r *hsmResource, d *hsm.DeletedHSM) wire.DeletedManagedHsm {
	return wire.DeletedManagedHsm{ID: deletedID(r.Subscription, r.Location, r.Name), Name: r.Name, Type: DeletedHSMType,
		Properties: wire.DeletedManagedHsmProperties{MhsmID: hsmResourceID(r.Subscription, r.ResourceGroup, r.Name), Location: r.Location,
			DeletionDate: d.DeletionDate, ScheduledPurgeDate: d.ScheduledPurgeDate, PurgeProtectionEnabled: d.PurgeProtection, Tags: r.Tags}}
}

// deleted returns the resource and deletion record of the soft-deleted
// HSM name of sub in location.
func (s *Service) deleted(ctx context.Context, sub, location, name string) (*hsmResource, *hsm.DeletedHSM, error) {
	r, err := s.loadHSMResource(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, deletedNotFound(name)
	}
	if err != nil {
		return nil, nil, err
	}
	if !sameName(r.Subscription, sub) || r.Location != normLocation(location) || !s.isDeleted(*r) {
		return nil, nil, deletedNotFound(name)
	}
	d, err := s.hsms.Deleted(ctx, name)
	if err != nil {
		if _, ok := hsm.AsError(err); ok {
			return nil, nil, deletedNotFound(name)
		}
		return nil, nil, err
	}
	return r, d, nil
}

// DeletedHSM returns the soft-deleted HSM name of sub in location.
func (s *Service) DeletedHSM(ctx context.Context, sub, location, name string) (*wire.DeletedManagedHsm, error) {
	r, d, err := s.deleted(ctx, sub, location, name)
	if err != nil {
		return nil, err
	}
	w := wireDeleted(r, d)
	return &w, nil
}

// DeletedHSMs lists the soft-deleted HSMs of sub.
func (s *Service) DeletedHSMs(ctx context.Context, sub string) ([]wire.DeletedManagedHsm, error) {
	ds, err := s.hsms.ListDeleted(ctx)
	if err != nil {
		return nil, err
	}
	out := []wire.DeletedManagedHsm{}
	for i := range ds {
		r, err := s.loadHSMResource(ctx, ds[i].Name)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted outside ARM
		}
		if err != nil {
			return nil, err
		}
		if sameName(r.Subscription, sub) {
			out = append(out, wireDeleted(r, &ds[i]))
		}
	}
	return out, nil
}

// PurgeHSM permanently destroys the soft-deleted HSM name, its keys and
// local RBAC, its management role assignments and diagnostic settings;
// its name becomes free. Purge protection refuses until the scheduled
// purge date.
func (s *Service) PurgeHSM(ctx context.Context, sub, location, name string) (*Operation, error) {
	r, _, err := s.deleted(ctx, sub, location, name)
	if err != nil {
		return nil, err
	}
	if err := s.hsms.Purge(ctx, name); err != nil {
		if he, ok := hsm.AsError(err); ok && he.Kind == hsm.KindConflict {
			return nil, conflict(he.Code, "%s", he.Message)
		}
		return nil, err
	}
	if err := s.forget(ctx, r); err != nil {
		return nil, err
	}
	return s.completed(sub, r.Location, deletedID(r.Subscription, r.Location, r.Name), "purge"), nil
}

// forgetIfPurged forgets HSM name if the HSM service purged it on its own
// (at the end of its retention period): its name is free again, and a new
// HSM of that name must inherit none of the old one's assignments or
// settings.
func (s *Service) forgetIfPurged(ctx context.Context, name string) error {
	r, err := s.loadHSMResource(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || !s.isDeleted(*r) {
		return err
	}
	if _, err := s.hsms.Deleted(ctx, name); err == nil {
		return nil
	} else if he, ok := hsm.AsError(err); !ok || he.Kind != hsm.KindNotFound {
		return err
	}
	return s.forget(ctx, r)
}

// forget removes what the management plane holds about a purged HSM.
func (s *Service) forget(ctx context.Context, r *hsmResource) error {
	if err := s.removeAssignmentsUnder(ctx, armrbac.HSMScope(r.Subscription, r.ResourceGroup, r.Name)); err != nil {
		return err
	}
	if err := s.removeDiagnostics(ctx, r.Name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(hsmKey(r.Name)) }); err != nil {
		return err
	}
	return s.reloadNetwork(ctx)
}

// recoverHSM brings back the soft-deleted HSM name (PUT with createMode
// "recover") in the resource group it was deleted from.
func (s *Service) recoverHSM(ctx context.Context, sub, rg, name string) (*wire.ManagedHsm, *Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.loadHSMResource(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!r.in(sub, rg) || !s.isDeleted(*r))) {
		return nil, nil, badRequest("BadRequest", "No deleted managed HSM named '%s' of resource group '%s' can be recovered.", name, rg)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := s.st.View(ctx, func(tx store.Tx) error { _, err := getRG(tx, sub, rg); return err }); err != nil {
		return nil, nil, err
	}
	if _, err := s.hsms.Recover(ctx, name); err != nil {
		if _, ok := hsm.AsError(err); ok {
			return nil, nil, deletedNotFound(name)
		}
		return nil, nil, err
	}
	return s.wireHSM(r), s.completed(sub, r.Location, hsmResourceID(r.Subscription, r.ResourceGroup, r.Name), "recover"), nil
}

// CheckName reports whether name may be used for a new HSM: valid, and
// not held by a live, provisioning or soft-deleted HSM (names are global,
// like DNS names).
func (s *Service) CheckName(ctx context.Context, name string) (wire.CheckMhsmNameAvailabilityResult, error) {
	if !ValidHSMName(name) {
		return wire.CheckMhsmNameAvailabilityResult{Reason: "AccountNameInvalid",
			Message: "The name '" + name + "' is invalid: use 3 to 24 letters, digits and single hyphens, starting with a letter and ending with a letter or digit."}, nil
	}
	taken := func() wire.CheckMhsmNameAvailabilityResult {
		return wire.CheckMhsmNameAvailabilityResult{Reason: "AlreadyExists", Message: "The name '" + name + "' is already in use."}
	}
	if _, live := s.hsms.Get(name); live {
		return taken(), nil
	}
	if _, err := s.hsms.Deleted(ctx, name); err == nil {
		return taken(), nil
	}
	r, err := s.loadHSMResource(ctx, strings.ToLower(name))
	if err == nil && r.ProvisioningState == StateProvisioning {
		return taken(), nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return wire.CheckMhsmNameAvailabilityResult{}, err
	}
	return wire.CheckMhsmNameAvailabilityResult{NameAvailable: true}, nil
}
