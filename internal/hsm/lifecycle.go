package hsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// Soft delete of whole HSMs. A deleted HSM keeps every key, assignment and
// setting under "hsm/<name>/"; only its record moves from "hsmrec/<name>"
// to "hsmdel/<name>", so its data plane answers 404 and its name cannot be
// reused, until it is recovered or purged (by the caller, or by Tick once
// the retention period ends). Purge protection forbids purging before then.

// ErrDeleted is returned by Create for a name held by a soft-deleted HSM.
var ErrDeleted = errors.New("hsm: name held by a soft-deleted HSM")

// DeletedHSM is a soft-deleted HSM as listed.
type DeletedHSM struct {
	Name               string
	TenantID           string
	SoftDeleteDays     int
	PurgeProtection    bool
	DeletionDate       time.Time
	ScheduledPurgeDate time.Time
}

// deletedRecord keeps the HSM's record verbatim (fields other packages add
// to Record survive a delete and recover).
type deletedRecord struct {
	Record             json.RawMessage `json:"record"`
	DeletionDate       time.Time       `json:"deletionDate"`
	ScheduledPurgeDate time.Time       `json:"scheduledPurgeDate"`
}

func delKey(name string) string { return "hsmdel/" + name }

// hsmDataPrefix holds everything an HSM owns besides its record.
func hsmDataPrefix(name string) string { return "hsm/" + name + "/" }

// claimName is Create's check that name is neither live nor deleted. Data
// left under the name by a request that raced a purge is removed, so a new
// HSM never inherits anything from an old one of the same name.
func claimName(tx store.Tx, name string) error {
	if _, err := tx.Get("hsmrec/" + name); err == nil {
		return ErrExists
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, err := tx.Get(delKey(name)); err == nil {
		return ErrDeleted
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	stale, err := tx.List(hsmDataPrefix(name), "", 0)
	if err != nil {
		return err
	}
	for _, kv := range stale {
		if err := tx.Delete(kv.Key); err != nil {
			return err
		}
	}
	return nil
}

func hsmNotFound(name string) error {
	return notFound("NotFound", "No managed HSM named %s exists.", name)
}

func deletedNotFound(name string) error {
	return notFound("NotFound", "No deleted managed HSM named %s exists.", name)
}

// SoftDelete deletes HSM name: its data plane stops at once (404) and it
// is kept, recoverable, for its retention period.
func (s *Service) SoftDelete(ctx context.Context, name string) (*DeletedHSM, error) {
	name = strings.ToLower(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hsms[name]; !ok {
		return nil, hsmNotFound(name)
	}
	var out *DeletedHSM
	err := s.st.Update(ctx, func(tx store.Tx) error {
		raw, err := tx.Get("hsmrec/" + name)
		if err != nil {
			return err
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("hsm: decode %s: %w", name, err)
		}
		now := s.now().UTC()
		d := deletedRecord{Record: raw, DeletionDate: now, ScheduledPurgeDate: now.Add(time.Duration(r.SoftDeleteDays) * 24 * time.Hour)}
		if err := putJSON(tx, delKey(name), &d); err != nil {
			return err
		}
		out = d.view(r)
		return tx.Delete("hsmrec/" + name)
	})
	if err != nil {
		return nil, err
	}
	delete(s.hsms, name)
	s.forgetHSM(name)
	return out, nil
}

func (d *deletedRecord) view(r Record) *DeletedHSM {
	return &DeletedHSM{Name: r.Name, TenantID: r.TenantID, SoftDeleteDays: r.SoftDeleteDays, PurgeProtection: r.PurgeProtection,
		DeletionDate: d.DeletionDate, ScheduledPurgeDate: d.ScheduledPurgeDate}
}

func loadDeleted(tx store.Tx, name string) (*deletedRecord, Record, error) {
	var d deletedRecord
	var r Record
	if err := getJSON(tx, delKey(name), &d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, r, deletedNotFound(name)
		}
		return nil, r, err
	}
	if err := json.Unmarshal(d.Record, &r); err != nil {
		return nil, r, fmt.Errorf("hsm: decode deleted %s: %w", name, err)
	}
	return &d, r, nil
}

// Deleted returns the soft-deleted HSM name.
func (s *Service) Deleted(ctx context.Context, name string) (*DeletedHSM, error) {
	name = strings.ToLower(name)
	var out *DeletedHSM
	err := s.st.View(ctx, func(tx store.Tx) error {
		d, r, err := loadDeleted(tx, name)
		if err != nil {
			return err
		}
		out = d.view(r)
		return nil
	})
	return out, err
}

// ListDeleted returns every soft-deleted HSM, sorted by name.
func (s *Service) ListDeleted(ctx context.Context) ([]DeletedHSM, error) {
	var out []DeletedHSM
	err := s.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("hsmdel/", "", 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			d, r, err := loadDeleted(tx, strings.TrimPrefix(kv.Key, "hsmdel/"))
			if err != nil {
				return err
			}
			out = append(out, *d.view(r))
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Purge permanently destroys the soft-deleted HSM name and everything it
// held. With purge protection on it is refused until the scheduled purge
// date.
func (s *Service) Purge(ctx context.Context, name string) error {
	return s.purgeHSM(ctx, strings.ToLower(name), false)
}

func (s *Service) purgeHSM(ctx context.Context, name string, onlyDue bool) error {
	var d *deletedRecord
	var r Record
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		d, r, err = loadDeleted(tx, name)
		return err
	}); err != nil {
		return err
	}
	due := !s.now().Before(d.ScheduledPurgeDate)
	if onlyDue && !due {
		return nil
	}
	if r.PurgeProtection && !due {
		return &Error{Kind: KindConflict, Code: "InvalidOperation", Message: fmt.Sprintf(
			"Operation 'purge' is not allowed because purge protection is enabled for managed HSM %s; it will be purged automatically on %s.",
			name, d.ScheduledPurgeDate.Format(time.RFC3339))}
	}
	// Delete the data in bounded transactions, the record last: an
	// interrupted purge leaves a deleted HSM whose purge can be retried,
	// and the name stays taken until the record is gone.
	for {
		n := 0
		err := s.st.Update(ctx, func(tx store.Tx) error {
			kvs, err := tx.List(hsmDataPrefix(name), "", 1000)
			if err != nil {
				return err
			}
			n = len(kvs)
			for _, kv := range kvs {
				if err := tx.Delete(kv.Key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	s.forgetHSM(name)
	return s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(delKey(name)) })
}

// Recover brings the soft-deleted HSM name back with everything it held.
func (s *Service) Recover(ctx context.Context, name string) (*HSM, error) {
	name = strings.ToLower(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	var r Record
	var raw []byte
	if err := s.st.View(ctx, func(tx store.Tx) error {
		d, rec, err := loadDeleted(tx, name)
		if err != nil {
			return err
		}
		r, raw = rec, d.Record
		return nil
	}); err != nil {
		return nil, err
	}
	h, err := s.open(r)
	if err != nil {
		return nil, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(delKey(name)); err != nil {
			return deletedNotFound(name) // purged meanwhile
		}
		if err := tx.Put("hsmrec/"+name, raw); err != nil {
			return err
		}
		return tx.Delete(delKey(name))
	})
	if err != nil {
		return nil, err
	}
	if err := s.reloadPolicy(ctx, h); err != nil {
		return nil, err
	}
	s.hsms[name] = h
	return h, nil
}

// purgeDueHSMs purges every deleted HSM whose scheduled purge date passed.
func (s *Service) purgeDueHSMs(ctx context.Context) {
	ds, err := s.ListDeleted(ctx)
	if err != nil {
		slog.Error("listing deleted HSMs failed", "err", err)
		return
	}
	now := s.now()
	for _, d := range ds {
		if now.Before(d.ScheduledPurgeDate) {
			continue
		}
		if err := s.purgeHSM(ctx, d.Name, true); err != nil {
			slog.Error("purge of expired deleted HSM failed", "hsm", d.Name, "err", err)
		} else {
			slog.Info("deleted HSM purged at the end of its retention period", "hsm", d.Name)
		}
	}
}

// EnablePurgeProtection turns purge protection on for the live HSM name;
// it cannot be turned off.
func (s *Service) EnablePurgeProtection(ctx context.Context, name string) error {
	h, ok := s.Get(name)
	if !ok {
		return hsmNotFound(strings.ToLower(name))
	}
	_, err := s.updateRecord(ctx, h, nil, func(r *Record) error { r.PurgeProtection = true; return nil }, nil)
	return err
}
