package token

import (
	"strings"

	"github.com/mhsm/mhsm/internal/store"
)

// ApplyChange forgets the signing keys cached for a tenant whose keys
// changed in the store (a rotation or retirement by another node sharing
// it), or for every tenant after a change feed Reset. The next use reads
// them again, so every node verifies the tokens every other node issues.
func (i *Issuer) ApplyChange(c store.Change) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if c.Reset {
		clear(i.tenants)
		return
	}
	for _, k := range c.Keys {
		if rest, ok := strings.CutPrefix(k, "tok/"); ok {
			if tid, sub, _ := strings.Cut(rest, "/"); strings.HasPrefix(sub, "key/") {
				delete(i.tenants, tid)
			}
		}
	}
}
