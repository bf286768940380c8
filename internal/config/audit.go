package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Audit configures the audit log (package audit): one hash-chained,
// signed log per HSM plus a server log, written durably before each
// response, and its delivery to storage. Destinations come from this
// configuration only: the management API (diagnostic settings) can name a
// configured destination or an account under StorageRoot, never a path.
type Audit struct {
	// Off disables the audit log: nothing is recorded and nothing fails
	// closed. For benchmarking only (`--audit=false`); never in production.
	Off bool
	// Dir holds the log, one directory per chain. Empty (the default) means
	// <DataDir>/audit.
	Dir string
	// CheckpointRecords: a signed checkpoint is written after this many
	// records. Default 1000.
	CheckpointRecords int
	// CheckpointInterval: uncovered records get a signed checkpoint at
	// least this often. Default 1m.
	CheckpointInterval time.Duration
	// CommitInterval: while the CPU is saturated, group commits of a chain
	// start at most this often, so more records share each fsync (which
	// costs more CPU than a cheap request). Default 2ms; 0 commits as soon
	// as the previous commit is done.
	CommitInterval time.Duration
	// StorageRoot is the local directory standing in for storage accounts
	// a diagnostic setting may name: account A is StorageRoot/A. Empty (the
	// default) means <DataDir>/storage.
	StorageRoot string
	// Destinations are named storage targets, each
	// "NAME=local:/absolute/dir" or
	// "NAME=azblob:<container URL>[;account-key-env=VAR]" (the shared key
	// is read from the environment variable VAR; a SAS may be in the URL).
	// A diagnostic setting whose storage account is NAME delivers there.
	// None by default.
	Destinations []string
	// DestinationScopes bind destinations to the management scope whose
	// principals may name them, each
	// "NAME=/subscriptions/<id>[/resourceGroups/<rg>]": a diagnostic setting
	// may name destination NAME only by a storage account id inside that
	// scope, and only a caller holding Microsoft.Storage/storageAccounts/write
	// there. A destination without a scope cannot be named at all (it may
	// hold real storage written with the server's credentials). None by
	// default.
	DestinationScopes []string
}

// DefaultAudit returns the audit defaults.
func DefaultAudit() Audit {
	return Audit{CheckpointRecords: 1000, CheckpointInterval: time.Minute, CommitInterval: 2 * time.Millisecond}
}

// AuditDir is the audit directory after defaults.
func (c *Server) AuditDir() string {
	if c.Audit.Dir != "" {
		return c.Audit.Dir
	}
	return filepath.Join(c.DataDir, "audit")
}

// AuditStorageRoot is the storage root after defaults.
func (c *Server) AuditStorageRoot() string {
	if c.Audit.StorageRoot != "" {
		return c.Audit.StorageRoot
	}
	return filepath.Join(c.DataDir, "storage")
}

var destinationName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}=(local|azblob):.+$`)

func (a *Audit) validate() []error {
	var errs []error
	if a.CheckpointRecords < 1 || a.CheckpointRecords > 1_000_000 {
		errs = append(errs, fmt.Errorf("audit checkpoint records %d must be between 1 and 1000000", a.CheckpointRecords))
	}
	if a.CheckpointInterval < time.Second || a.CheckpointInterval > 24*time.Hour {
		errs = append(errs, fmt.Errorf("audit checkpoint interval %s must be between 1s and 24h", a.CheckpointInterval))
	}
	if a.CommitInterval < 0 || a.CommitInterval > 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("audit commit interval %s must be between 0 and 100ms", a.CommitInterval))
	}
	seen := map[string]bool{}
	for _, d := range a.Destinations {
		if !destinationName.MatchString(d) {
			errs = append(errs, fmt.Errorf("audit destination %q: want NAME=local:/dir or NAME=azblob:URL", redactURL(d)))
			continue
		}
		name, _, _ := strings.Cut(d, "=")
		if seen[name] {
			errs = append(errs, fmt.Errorf("audit destination %s is given twice", name))
		}
		seen[name] = true
	}
	bound := map[string]bool{}
	for _, b := range a.DestinationScopes {
		name, _, err := ParseDestinationScope(b)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !seen[name]:
			errs = append(errs, fmt.Errorf("audit destination scope %s: no destination of that name", name))
		case bound[name]:
			errs = append(errs, fmt.Errorf("audit destination %s is bound twice", name))
		}
		bound[name] = true
	}
	return errs
}

var destinationScope = regexp.MustCompile(`(?i)^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(/resourceGroups/[-\w._()]{1,90})?$`)

// ParseDestinationScope splits a DestinationScopes entry into the
// destination name and its scope (a subscription or resource group id).
func ParseDestinationScope(s string) (name, scope string, err error) {
	name, scope, _ = strings.Cut(s, "=")
	if !accountNamePattern.MatchString(name) || !destinationScope.MatchString(scope) {
		return "", "", fmt.Errorf("audit destination scope %q: want NAME=/subscriptions/<id>[/resourceGroups/<rg>]", s)
	}
	return name, scope, nil
}

var accountNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// redactURL drops a query string (a SAS) from a destination for messages.
func redactURL(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i] + "?…"
	}
	return s
}
