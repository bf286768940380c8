package app

import (
	"path/filepath"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/store"
)

// openStore opens the store cfg names: in memory for an ephemeral dev
// server (config.Validate refuses Ephemeral without Dev), else the bbolt
// file in the data dir.
func openStore(cfg *config.Server) (store.Backend, error) {
	if cfg.Ephemeral {
		return store.NewMemory(), nil
	}
	b, err := store.OpenBolt(filepath.Join(cfg.DataDir, "mhsm.db"))
	if err != nil {
		return nil, err
	}
	return b, nil
}
