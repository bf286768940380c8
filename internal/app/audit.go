package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/mgmt"
)

// Audit returns the audit log (nil when audit is off), for tests and tools.
func (a *App) Audit() *audit.Log { return a.audit }

// AuditDelivery returns the delivery of audit logs to storage (nil when
// audit is off).
func (a *App) AuditDelivery() *audit.Delivery { return a.delivery }

// openAudit opens the audit log in cfg.AuditDir(), its chain keys sealed in
// the store by the system data key, and its delivery to the configured
// destinations. With cfg.Audit.Off it opens nothing.
func (a *App) openAudit(ctx context.Context, cfg *config.Server, sysKey *barrier.DataKey) error {
	if cfg.Audit.Off {
		slog.Warn("audit is OFF: requests are neither recorded nor refused when unrecordable (benchmarking only)")
		return nil
	}
	a.resourceIDs = &resourceIDs{}
	log, err := audit.Open(ctx, audit.Options{
		Dir: cfg.AuditDir(), Keys: audit.StoreKeys{St: a.st, DK: sysKey},
		CheckpointRecords: cfg.Audit.CheckpointRecords, CheckpointInterval: cfg.Audit.CheckpointInterval,
		ResourceID: a.resourceIDs.get, CommitInterval: cfg.Audit.CommitInterval,
	})
	if err != nil {
		return err
	}
	a.audit = log
	dests, err := storageDestinations(cfg)
	if err != nil {
		return err
	}
	if a.delivery, err = audit.NewDelivery(log, audit.DeliveryOptions{Destinations: dests, StorageRoot: cfg.AuditStorageRoot()}); err != nil {
		return fmt.Errorf("audit delivery: %w", err)
	}
	return nil
}

// auditRecorder is the log for the HTTP edge (nil: audit off).
func (a *App) auditRecorder() audit.Recorder {
	if a.audit == nil {
		return nil
	}
	if a.clock.Movable() {
		return shiftedLog{a.audit, a.clock} // devclock.go
	}
	return a.audit
}

// diagnosticSink is where the management plane's diagnostic settings take
// effect (nil: audit off, settings are kept but deliver nothing).
func (a *App) diagnosticSink() mgmt.DiagnosticSink {
	if a.delivery == nil {
		return nil
	}
	return &diagnosticSink{d: a.delivery, ids: a.resourceIDs}
}

// closeAudit writes the final checkpoints and delivers what it can within
// a few seconds.
func (a *App) closeAudit() {
	if a.audit == nil {
		return
	}
	_ = a.audit.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.delivery.Flush(ctx); err != nil {
		slog.Warn("audit: final delivery incomplete; it resumes on the next start", "err", err)
	}
}

// diagnosticSink adapts audit.Delivery to mgmt.DiagnosticSink: settings
// enabling AuditEvent deliver to their storage account, which must be a
// configured destination or an account under the storage root.
type diagnosticSink struct {
	d   *audit.Delivery
	ids *resourceIDs
}

var _ mgmt.DiagnosticSink = (*diagnosticSink)(nil)

func (s *diagnosticSink) Configure(hsm string, settings []mgmt.DiagnosticSetting) error {
	var want []audit.Setting
	for _, ds := range settings {
		if ds.ResourceID != "" {
			s.ids.set(hsm, ds.ResourceID)
		}
		if !slices.Contains(ds.Categories, mgmt.AuditEventCategory) || ds.StorageAccount == "" {
			continue
		}
		want = append(want, audit.Setting{Name: ds.Name, Destination: ds.StorageAccount})
	}
	return s.d.Replace(hsm, want)
}

// resourceIDs maps HSM names to ARM ids, as the management plane reports
// them; unknown HSMs get audit.DefaultResourceID.
type resourceIDs struct {
	m sync.Map
	// lookup asks the management plane (set once it exists); its answers
	// are cached for resourceIDTTL, since reading and decoding the resource
	// for every record cost ~14 µs per request (docs/performance.md). An
	// HSM only changes resource group by being deleted, purged and created
	// again, so a record written within the TTL of that may name the old
	// group; the HSM name in the id is always right.
	lookup atomic.Pointer[func(string) (string, bool)]
	cache  sync.Map // hsm → cachedID
}

type cachedID struct {
	id string
	at time.Time
}

const resourceIDTTL = 5 * time.Second

func (r *resourceIDs) set(hsm, id string) { r.m.Store(hsm, id) }

// get returns the HSM's ARM id: the management plane's record, else the
// id a diagnostic setting reported, else a placeholder.
func (r *resourceIDs) get(hsm string) string {
	if f := r.lookup.Load(); f != nil {
		if c, ok := r.cache.Load(hsm); ok && time.Since(c.(cachedID).at) < resourceIDTTL {
			return c.(cachedID).id
		}
		if id, ok := (*f)(hsm); ok {
			r.cache.Store(hsm, cachedID{id: id, at: time.Now()})
			return id
		}
	}
	if v, ok := r.m.Load(hsm); ok {
		return v.(string)
	}
	return audit.DefaultResourceID(hsm)
}
