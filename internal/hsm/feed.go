package hsm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"

	"github.com/mhsm/mhsm/internal/store"
)

// ApplyChange keeps the Service's in-memory state true to the store when
// writes come from elsewhere: another mhsm node sharing the store (etcd),
// or this node (harmless: each step below only re-reads). The store's
// change feed (store.Feed) calls it for every committed batch, in order.
//
//   - hsm/<name>/key/… and hsm/<name>/ver/… drop the decoded records (the
//     record cache's seq makes a fill racing the change refuse itself) and
//     a changed or deleted version's decrypted material;
//   - hsm/<name>/ra/… and hsm/<name>/rd/… recompile that HSM's policy;
//   - hsmrec/<name> re-reads the HSM record: a new HSM appears, a deleted
//     one goes, a changed one (activation, security domain) is republished;
//   - a Reset (the feed was lost) drops every record and every decrypted
//     key and re-reads every HSM and policy.
//
// Errors reading the store are logged; the feed's next Reset (a store that
// cannot be read is also one whose feed is lost) repairs what they left.
func (s *Service) ApplyChange(ctx context.Context, c store.Change) {
	if c.Reset {
		s.records.invalidatePrefix("")
		s.cache.evictPrefix("")
		if err := s.reloadAll(ctx); err != nil {
			slog.Warn("hsm: reload after change feed reset", "err", err)
		}
		return
	}
	var stale []string
	policies := map[string]bool{}
	hsmRecs := map[string]bool{}
	for _, k := range c.Keys {
		if name, ok := strings.CutPrefix(k, "hsmrec/"); ok {
			hsmRecs[name] = true
			continue
		}
		rest, ok := strings.CutPrefix(k, "hsm/")
		if !ok {
			continue
		}
		name, sub, _ := strings.Cut(rest, "/")
		switch {
		case strings.HasPrefix(sub, "key/"):
			stale = append(stale, k)
		case strings.HasPrefix(sub, "ver/"):
			stale = append(stale, k)
			// hsm/<name>/ver/<key>/<version> → material "<name>/<key>/<version>"
			if kv := strings.TrimPrefix(sub, "ver/"); strings.Count(kv, "/") == 1 {
				s.cache.evictPrefix(name + "/" + kv)
			}
		case strings.HasPrefix(sub, "ra/"), strings.HasPrefix(sub, "rd/"):
			policies[name] = true
		}
	}
	s.records.invalidate(stale)
	for name := range hsmRecs {
		if err := s.reloadHSM(ctx, name); err != nil {
			slog.Warn("hsm: reload record after change", "hsm", name, "err", err)
		}
	}
	for name := range policies {
		if h, ok := s.Get(name); ok && !hsmRecs[name] {
			if err := s.reloadPolicy(ctx, h); err != nil {
				slog.Warn("hsm: recompile policy after change", "hsm", name, "err", err)
			}
		}
	}
}

// reloadHSM re-reads hsmrec/<name> and publishes what it says. It holds
// s.mu across the read, as the local writers of HSM records do across
// their transactions, so an older read never replaces a newer record.
func (s *Service) reloadHSM(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var raw []byte
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		raw, err = tx.Get("hsmrec/" + name)
		return err
	})
	cur, had := s.hsms[name]
	if errors.Is(err, store.ErrNotFound) {
		if had {
			delete(s.hsms, name)
			s.forgetHSM(name)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if had {
		if old, err := json.Marshal(&cur.Record); err == nil && bytes.Equal(old, raw) {
			return s.reloadPolicy(ctx, cur) // the record is as published
		}
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	h, err := s.open(r)
	if err != nil {
		return err
	}
	if had {
		h.pol = cur.pol // the policy state outlives record changes
	}
	if err := s.reloadPolicy(ctx, h); err != nil {
		return err
	}
	s.hsms[name] = h
	return nil
}

// reloadAll re-reads every HSM record and policy (after a feed reset).
func (s *Service) reloadAll(ctx context.Context) error {
	var names []string
	err := s.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("hsmrec/", "", 0)
		for _, kv := range kvs {
			names = append(names, strings.TrimPrefix(kv.Key, "hsmrec/"))
		}
		return err
	})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var errs []error
	for _, n := range names {
		seen[n] = true
		errs = append(errs, s.reloadHSM(ctx, n))
	}
	for _, n := range s.List() {
		if !seen[n] {
			errs = append(errs, s.reloadHSM(ctx, n)) // gone: reloadHSM drops it
		}
	}
	return errors.Join(errs...)
}
