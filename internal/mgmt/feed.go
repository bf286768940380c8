package mgmt

import (
	"context"
	"errors"
	"strings"

	"github.com/mhsm/mhsm/internal/store"
)

// ApplyChange recompiles the management RBAC policy and the network
// snapshot when a committed change (from this node or another sharing the
// store) touches the management plane's keys, or after a change feed
// Reset. It takes the write lock, as local writers do, so an older
// snapshot never replaces a newer one.
func (s *Service) ApplyChange(ctx context.Context, c store.Change) error {
	touched := c.Reset
	for _, k := range c.Keys {
		if strings.HasPrefix(k, "mgmt/") {
			touched = true
			break
		}
	}
	if !touched {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.recompile(ctx), s.reloadNetwork(ctx))
}
