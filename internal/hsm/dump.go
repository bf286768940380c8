package hsm

import (
	"context"
	"strings"

	"github.com/mhsm/mhsm/internal/store"
)

// CanonicalDump returns every record HSM name keeps — keys, versions with
// their sealed material, role definitions and assignments, settings, key
// count and anything added later — keyed relative to the HSM, as stored.
// Only job statuses (job/) and security-domain state (sd/), which a full
// restore does not carry over, are left out. Two HSMs of the same security
// domain with equal dumps hold the same keys, material and policy; tests
// compare dumps before a backup and after a restore.
func (s *Service) CanonicalDump(ctx context.Context, name string) (map[string]string, error) {
	out := map[string]string{}
	prefix := hsmDataPrefix(strings.ToLower(name))
	err := s.st.View(ctx, func(tx store.Tx) error {
		after := ""
		for {
			kvs, err := tx.List(prefix, after, backupPageSize)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				rel := strings.TrimPrefix(kv.Key, prefix)
				if !strings.HasPrefix(rel, "job/") && !strings.HasPrefix(rel, "sd/") {
					out[rel] = string(kv.Value)
				}
			}
			if len(kvs) < backupPageSize {
				return nil
			}
			after = kvs[len(kvs)-1].Key
		}
	})
	return out, err
}
