package mgmt

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Diagnostic settings (Microsoft.Insights/diagnosticSettings) on an HSM:
// "turn on logging". Managed HSM has one log category, AuditEvent; mhsm
// delivers it to storage accounts only.

// DiagnosticSetting is one diagnostic setting as the audit pipeline needs
// it.
type DiagnosticSetting struct {
	Name string
	// HSM is the data-plane name (lower case); ResourceID its ARM id, which
	// Azure Monitor upper-cases in blob paths
	// (resourceId=/SUBSCRIPTIONS/…/MANAGEDHSMS/NAME/y=…/PT1H.json).
	HSM        string
	ResourceID string
	// Categories are the enabled log categories: ["AuditEvent"] or none.
	Categories []string
	// StorageAccountID is the target's ARM id and StorageAccount its name.
	StorageAccountID string
	StorageAccount   string
	// StorageDir is the local directory standing in for the account
	// (Options.StorageRoot/<account>), "" without a StorageRoot. Azure
	// Monitor writes to its container "insights-logs-auditevent".
	StorageDir string
	// RetentionDays is the log retention; 0 means keep forever.
	RetentionDays int
}

// DiagnosticSink is where diagnostic settings take effect — the audit
// log's delivery to storage. Configure receives the complete set of
// settings of HSM hsm (lower-case name) whenever it changes, and for every
// HSM with settings when the Service starts; an empty set means "deliver
// nothing for this HSM any more" (settings deleted or HSM purged). It must
// be idempotent. An error fails the management request that made the
// change, which is then not stored.
type DiagnosticSink interface {
	Configure(hsm string, settings []DiagnosticSetting) error
}

// NopSink accepts every configuration and delivers nothing.
type NopSink struct{}

// Configure does nothing.
func (NopSink) Configure(string, []DiagnosticSetting) error { return nil }

var _ DiagnosticSink = NopSink{}

// DiagnosticSettingsType is the ARM type.
const DiagnosticSettingsType = "Microsoft.Insights/diagnosticSettings"

// AuditEventCategory is Managed HSM's only log category.
const AuditEventCategory = "AuditEvent"

// MaxDiagnosticSettings per resource, as in Azure Monitor.
const MaxDiagnosticSettings = 5

var (
	diagNamePattern       = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_. ]{0,259}$`)
	storageAccountPattern = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
)

type diagRecord struct {
	Name         string                            `json:"name"`
	HSM          string                            `json:"hsm"`
	ResourceID   string                            `json:"resourceId"`
	Properties   wire.DiagnosticSettingsProperties `json:"properties"`
	StorageAcct  string                            `json:"storageAccount"`
	Updated      time.Time                         `json:"updated"`
	RetentionDay int                               `json:"retentionDays"`
}

func (d *diagRecord) wire() wire.DiagnosticSettingsResource {
	return wire.DiagnosticSettingsResource{ID: d.ResourceID + "/providers/Microsoft.Insights/diagnosticSettings/" + d.Name, Name: d.Name,
		Type: DiagnosticSettingsType, Properties: d.Properties}
}

func (s *Service) setting(d *diagRecord) DiagnosticSetting {
	out := DiagnosticSetting{Name: d.Name, HSM: d.HSM, ResourceID: d.ResourceID, StorageAccountID: d.Properties.StorageAccountID,
		StorageAccount: d.StorageAcct, RetentionDays: d.RetentionDay}
	for _, l := range d.Properties.Logs {
		if l.Enabled {
			out.Categories = []string{AuditEventCategory}
		}
	}
	if s.o.StorageRoot != "" {
		out.StorageDir = filepath.Join(s.o.StorageRoot, d.StorageAcct)
	}
	return out
}

// liveHSM returns the resource of the live HSM that scope names.
func (s *Service) liveHSM(ctx context.Context, scope armrbac.Scope) (*hsmResource, error) {
	name, ok := scope.HSM()
	if !ok {
		return nil, badRequest("ResourceTypeNotSupported", "Diagnostic settings are supported on Microsoft.KeyVault/managedHSMs resources only.")
	}
	r, err := s.loadHSMResource(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!r.in(scope.Subscription, scope.ResourceGroup) || s.isDeleted(*r))) {
		return nil, hsmNotFound(scope.ResourceGroup, name)
	}
	return r, err
}

// validateDiagnostics checks a setting's body and returns the storage
// account name and retention. Whether the caller may name the account is
// ResolveStorageAccount's question.
func validateDiagnostics(p *wire.DiagnosticSettingsProperties) (string, int, error) {
	if p.WorkspaceID != "" || p.EventHubAuthorizationRuleID != "" || p.EventHubName != "" || p.ServiceBusRuleID != "" || p.MarketplacePartnerID != "" {
		return "", 0, badRequest("BadRequest", "mhsm delivers diagnostic logs to storage accounts only: set storageAccountId, not a workspace, event hub or partner destination.")
	}
	if p.StorageAccountID == "" {
		return "", 0, badRequest("BadRequest", "A destination is required: set storageAccountId.")
	}
	sa, err := parseStorageAccountID(p.StorageAccountID)
	if err != nil {
		return "", 0, err
	}
	if len(p.Logs) == 0 {
		return "", 0, badRequest("BadRequest", "At least one log category must be set: [{\"category\": \"AuditEvent\", \"enabled\": true}].")
	}
	days := 0
	for i, l := range p.Logs {
		switch {
		case strings.EqualFold(l.Category, AuditEventCategory) && l.CategoryGroup == "":
			p.Logs[i].Category = AuditEventCategory
		case l.Category == "" && (strings.EqualFold(l.CategoryGroup, "audit") || strings.EqualFold(l.CategoryGroup, "allLogs")):
		default:
			return "", 0, badRequest("BadRequest", "Category '%s%s' is not supported; Managed HSM has one log category, AuditEvent (groups audit and allLogs).", l.Category, l.CategoryGroup)
		}
		if rp := l.RetentionPolicy; rp != nil && rp.Enabled {
			if rp.Days < 0 || rp.Days > 365 {
				return "", 0, badRequest("BadRequest", "Retention days must be between 0 and 365.")
			}
			days = rp.Days
		}
	}
	for _, m := range p.Metrics {
		if !strings.EqualFold(m.Category, "AllMetrics") {
			return "", 0, badRequest("BadRequest", "Metric category '%s' is not supported; use AllMetrics.", m.Category)
		}
	}
	if p.Metrics == nil {
		p.Metrics = []wire.MetricSettings{}
	}
	return sa.Names[0], days, nil
}

// PutDiagnosticSetting creates or replaces setting name on the HSM that
// scope names, for caller, and hands the HSM's new set of settings to the
// sink. The storage account must resolve for caller (ResolveStorageAccount):
// the route's action covers the HSM, not the destination.
func (s *Service) PutDiagnosticSetting(ctx context.Context, caller Requester, scope armrbac.Scope, name string, in wire.DiagnosticSettingsProperties) (*wire.DiagnosticSettingsResource, error) {
	if !diagNamePattern.MatchString(name) {
		return nil, badRequest("BadRequest", "The diagnostic setting name '%s' is invalid.", name)
	}
	acct, days, err := validateDiagnostics(&in)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.liveHSM(ctx, scope)
	if err != nil {
		return nil, err
	}
	sa, err := s.ResolveStorageAccount(ctx, caller, in.StorageAccountID)
	if err != nil {
		return nil, err
	}
	in.StorageAccountID = sa.ID
	hsmName := strings.ToLower(r.Name)
	d := &diagRecord{Name: name, HSM: hsmName, ResourceID: hsmResourceID(r.Subscription, r.ResourceGroup, r.Name), Properties: in,
		StorageAcct: acct, Updated: s.o.Now().UTC(), RetentionDay: days}
	old, err := s.diagRecords(ctx, hsmName)
	if err != nil {
		return nil, err
	}
	next := []*diagRecord{}
	for _, o := range old {
		if !strings.EqualFold(o.Name, name) {
			next = append(next, o)
		}
	}
	next = append(next, d)
	if len(next) > MaxDiagnosticSettings {
		return nil, badRequest("BadRequest", "A resource can have at most %d diagnostic settings.", MaxDiagnosticSettings)
	}
	if err := s.configure(hsmName, next); err != nil {
		return nil, err
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return store.PutJSON(tx, diagKey(hsmName, name), d) }); err != nil {
		_ = s.configure(hsmName, old)
		return nil, err
	}
	w := d.wire()
	return &w, nil
}

func (s *Service) configure(hsm string, ds []*diagRecord) error {
	settings := make([]DiagnosticSetting, 0, len(ds))
	for _, d := range ds {
		settings = append(settings, s.setting(d))
	}
	return s.o.Sink.Configure(hsm, settings)
}

func (s *Service) diagRecords(ctx context.Context, hsm string) ([]*diagRecord, error) {
	var rs []diagRecord
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		rs, err = store.ListJSON[diagRecord](tx, diagPrefix(hsm))
		return err
	})
	out := make([]*diagRecord, len(rs))
	for i := range rs {
		out[i] = &rs[i]
	}
	return out, err
}

// DiagnosticSettings lists the settings of the HSM that scope names.
func (s *Service) DiagnosticSettings(ctx context.Context, scope armrbac.Scope) ([]wire.DiagnosticSettingsResource, error) {
	r, err := s.liveHSM(ctx, scope)
	if err != nil {
		return nil, err
	}
	ds, err := s.diagRecords(ctx, strings.ToLower(r.Name))
	out := make([]wire.DiagnosticSettingsResource, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.wire())
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, err
}

// Settings returns the diagnostic settings of HSM hsm as the sink sees
// them (for the audit pipeline's start-up and tests).
func (s *Service) Settings(ctx context.Context, hsm string) ([]DiagnosticSetting, error) {
	ds, err := s.diagRecords(ctx, strings.ToLower(hsm))
	out := make([]DiagnosticSetting, 0, len(ds))
	for _, d := range ds {
		out = append(out, s.setting(d))
	}
	return out, err
}

func diagNotFound(name string) error {
	return notFound("ResourceNotFound", "The diagnostic setting '%s' doesn't exist.", name)
}

// DiagnosticSetting returns setting name of the HSM that scope names.
func (s *Service) DiagnosticSetting(ctx context.Context, scope armrbac.Scope, name string) (*wire.DiagnosticSettingsResource, error) {
	r, err := s.liveHSM(ctx, scope)
	if err != nil {
		return nil, err
	}
	var d diagRecord
	err = s.st.View(ctx, func(tx store.Tx) error { return store.GetJSON(tx, diagKey(r.Name, name), &d) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, diagNotFound(name)
	}
	if err != nil {
		return nil, err
	}
	w := d.wire()
	return &w, nil
}

// DeleteDiagnosticSetting deletes setting name; found is false when there
// was none.
func (s *Service) DeleteDiagnosticSetting(ctx context.Context, scope armrbac.Scope, name string) (found bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.liveHSM(ctx, scope)
	if err != nil {
		return false, err
	}
	hsmName := strings.ToLower(r.Name)
	old, err := s.diagRecords(ctx, hsmName)
	if err != nil {
		return false, err
	}
	var next []*diagRecord
	for _, o := range old {
		if strings.EqualFold(o.Name, name) {
			found = true
		} else {
			next = append(next, o)
		}
	}
	if !found {
		return false, nil
	}
	if err := s.configure(hsmName, next); err != nil {
		return true, err
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(diagKey(hsmName, name)) }); err != nil {
		_ = s.configure(hsmName, old)
		return true, err
	}
	return true, nil
}

// removeDiagnostics drops every setting of a purged HSM.
func (s *Service) removeDiagnostics(ctx context.Context, hsm string) error {
	hsm = strings.ToLower(hsm)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.Update(ctx, func(tx store.Tx) error {
		kvs, err := tx.List(diagPrefix(hsm), "", 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if err := tx.Delete(kv.Key); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return s.o.Sink.Configure(hsm, nil)
}

// replayDiagnostics hands every stored setting to the sink at start-up.
func (s *Service) replayDiagnostics(ctx context.Context) error {
	var all []diagRecord
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		all, err = store.ListJSON[diagRecord](tx, "mgmt/diag/")
		return err
	}); err != nil {
		return err
	}
	if err := s.bindStoredAccounts(ctx, all); err != nil {
		return err
	}
	by := map[string][]*diagRecord{}
	for i := range all {
		by[all[i].HSM] = append(by[all[i].HSM], &all[i])
	}
	for h, ds := range by {
		if err := s.configure(h, ds); err != nil {
			return err
		}
	}
	return nil
}
