package hsm

import (
	"context"

	"github.com/mhsm/mhsm/internal/wire"
)

// ReleaseKey is secure key release. Not implemented yet: it refuses
// every request rather than release key material unchecked.
func (s *Service) ReleaseKey(ctx context.Context, h *HSM, name, version string, p *wire.KeyReleaseParameters) (*wire.KeyReleaseResult, error) {
	return nil, badRequest("secure key release is not available on this server yet")
}
