package hsm

import (
	"context"
	"strings"

	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// DeleteKey soft-deletes a key (all versions). It can be recovered until
// its scheduled purge date, retention being the HSM's soft-delete days.
func (s *Service) DeleteKey(ctx context.Context, h *HSM, name string) (*wire.DeletedKeyBundle, error) {
	var out *wire.DeletedKeyBundle
	err := s.st.Update(ctx, func(tx store.Tx) error {
		k, err := loadKey(tx, h.Name, name, false)
		if err != nil {
			return err
		}
		v, err := loadVersion(tx, h.Name, k, "")
		if err != nil {
			return err
		}
		now := s.now().Unix()
		k.Deleted = &deletion{DeletedDate: now, ScheduledPurgeDate: now + int64(h.SoftDeleteDays)*86400}
		if err := putJSON(tx, keyKey(h.Name, strings.ToLower(k.Name)), k); err != nil {
			return err
		}
		out = h.deletedBundle(k, v)
		return nil
	})
	if err == nil {
		s.forgetKey(h.Name, strings.ToLower(name))
	}
	return out, err
}

// GetDeletedKey returns a soft-deleted key.
func (s *Service) GetDeletedKey(ctx context.Context, h *HSM, name string) (*wire.DeletedKeyBundle, error) {
	k, v, err := s.readKeyVersion(ctx, h, name, "", true)
	if err != nil {
		return nil, err
	}
	return h.deletedBundle(k, v), nil
}

// ListDeletedKeys lists soft-deleted keys.
func (s *Service) ListDeletedKeys(ctx context.Context, h *HSM, skip string, max int) (Page[wire.DeletedKeyItem], error) {
	var page Page[wire.DeletedKeyItem]
	err := s.scanKeys(ctx, h, skip, max, true, func(tx store.Tx, k *keyRecord) error {
		v, err := loadVersion(tx, h.Name, k, "")
		if err != nil {
			return err
		}
		page.Items = append(page.Items, wire.DeletedKeyItem{
			KeyItem:    wire.KeyItem{Kid: h.kid(k.Name, ""), Attributes: h.attributes(v), Tags: v.Tags},
			RecoveryID: h.BaseURL + "/deletedkeys/" + k.Name, DeletedDate: k.Deleted.DeletedDate,
			ScheduledPurgeDate: k.Deleted.ScheduledPurgeDate,
		})
		return nil
	}, &page.Next)
	return page, err
}

// RecoverKey undeletes a soft-deleted key.
func (s *Service) RecoverKey(ctx context.Context, h *HSM, name string) (*wire.KeyBundle, error) {
	var out *wire.KeyBundle
	err := s.st.Update(ctx, func(tx store.Tx) error {
		k, err := loadKey(tx, h.Name, name, true)
		if err != nil {
			return err
		}
		v, err := loadVersion(tx, h.Name, k, "")
		if err != nil {
			return err
		}
		k.Deleted = nil
		if err := putJSON(tx, keyKey(h.Name, strings.ToLower(k.Name)), k); err != nil {
			return err
		}
		out = h.bundle(k, v)
		return nil
	})
	return out, err
}

// PurgeKey permanently removes a soft-deleted key and every version. With
// purge protection on, a key can only be purged by the retention clock.
func (s *Service) PurgeKey(ctx context.Context, h *HSM, name string) error {
	if h.PurgeProtection {
		return forbidden("Purge protection is enabled on this HSM: key %s will be purged on its scheduled purge date.", name)
	}
	return s.purge(ctx, h, name, false)
}

func (s *Service) purge(ctx context.Context, h *HSM, name string, onlyDue bool) error {
	lname := strings.ToLower(name)
	err := s.st.Update(ctx, func(tx store.Tx) error {
		k, err := loadKey(tx, h.Name, name, true)
		if err != nil {
			return err
		}
		if onlyDue && k.Deleted.ScheduledPurgeDate > s.now().Unix() {
			return nil
		}
		vs, err := tx.List(verPrefix(h.Name, lname), "", 0)
		if err != nil {
			return err
		}
		for _, kv := range vs {
			if err := tx.Delete(kv.Key); err != nil {
				return err
			}
		}
		if err := addKeyCount(tx, h.Name, -1); err != nil {
			return err
		}
		return tx.Delete(keyKey(h.Name, lname))
	})
	s.forgetKey(h.Name, lname)
	return err
}

// purgeDue purges every deleted key of h whose scheduled purge date passed.
func (s *Service) purgeDue(ctx context.Context, h *HSM) error {
	var due []string
	now := s.now().Unix()
	var next string
	err := s.scanKeys(ctx, h, "", 1<<30, true, func(_ store.Tx, k *keyRecord) error {
		if k.Deleted.ScheduledPurgeDate <= now {
			due = append(due, k.Name)
		}
		return nil
	}, &next)
	if err != nil {
		return err
	}
	for _, n := range due {
		if err := s.purge(ctx, h, n, true); err != nil {
			return err
		}
	}
	return nil
}
