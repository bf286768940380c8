package app

import (
	"os"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/backup"
	"github.com/mhsm/mhsm/internal/backupstore"
	"github.com/mhsm/mhsm/internal/config"
)

// storageDestinations is the server's one storage-account mapping (the audit
// destinations of the configuration), shared by audit delivery and full
// HSM backup: account NAME goes where --audit-destination NAME=… says.
func storageDestinations(cfg *config.Server) (map[string]audit.Destination, error) {
	dests := map[string]audit.Destination{}
	for _, spec := range cfg.Audit.Destinations {
		name, d, err := audit.ParseDestination(spec, os.Getenv)
		if err != nil {
			return nil, err
		}
		dests[name] = d
	}
	return dests, nil
}

// backupStorage resolves the storage accounts full backups name: the
// configured ones, and any other account A as the directory
// <storage root>/A (cfg.AuditStorageRoot), as for diagnostic settings.
func backupStorage(cfg *config.Server) (backup.Storage, error) {
	dests, err := storageDestinations(cfg)
	if err != nil {
		return nil, err
	}
	return backupstore.Accounts{Named: dests, Root: cfg.AuditStorageRoot()}, nil
}
