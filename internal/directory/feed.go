package directory

import (
	"strings"

	"github.com/mhsm/mhsm/internal/store"
)

// ApplyChange bumps Generation when a committed change (from this node or
// another sharing the store) touches the directory, or when the store's
// change feed was lost (a Reset). Everything cached against Generation —
// transitive group memberships here, token verdicts in the verifier — is
// then recomputed, so disabling or deleting a principal, and a group
// change, take effect on every node.
func (d *Directory) ApplyChange(c store.Change) {
	if c.Reset {
		d.gen.Add(1)
		return
	}
	for _, k := range c.Keys {
		if strings.HasPrefix(k, "dir/") || strings.HasPrefix(k, "dirx/") {
			d.gen.Add(1)
			return
		}
	}
}
