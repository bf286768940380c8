package app

import (
	"context"
	"errors"

	"github.com/mhsm/mhsm/internal/config"
)

// seed loads cfg.Seed into the store (dev mode only).
func (a *App) seed(ctx context.Context, cfg *config.Server) error {
	if cfg.Seed == "" {
		return nil
	}
	return errors.New("seeding is not implemented yet")
}
