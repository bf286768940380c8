package mgmt

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

const tenant = "7a0c1f3e-0000-4000-8000-000000000001"
const admin = "7a0c1f3e-0000-4000-8000-0000000000ad"

// adminRequester is the subscription's Owner making a request.
var adminRequester = Requester{TenantID: tenant, Principal: armrbac.Principal{ObjectID: admin}}

// recordingSink remembers the last configuration of each HSM.
type recordingSink struct {
	mu   sync.Mutex
	last map[string][]DiagnosticSetting
	fail error
}

func (r *recordingSink) Configure(h string, s []DiagnosticSetting) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.last[h] = s
	return nil
}

var _ DiagnosticSink = (*recordingSink)(nil)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	clk  *testClock
	st   store.Backend
	ring *barrier.Keyring
	hsms *hsm.Service
	m    *Service
	sink *recordingSink
	sub  *Subscription
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ring, err := barrier.NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{clk: &testClock{t: time.Now()}, st: store.NewMemory(), ring: ring, sink: &recordingSink{last: map[string][]DiagnosticSetting{}}}
	e.reopen(t)
	if e.sub, err = e.m.CreateSubscription(context.Background(), tenant, "test", "", admin); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.m.PutResourceGroup(context.Background(), e.sub.ID, "rg", wire.ResourceGroup{Location: "local"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// reopen builds the services again over the same store (a restart).
func (e *env) reopen(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if e.m != nil {
		e.m.Close()
	}
	var err error
	if e.hsms, err = hsm.NewService(ctx, e.st, e.ring, hsm.Options{BaseURL: func(n string) string { return "https://" + n }, Now: e.clk.now}); err != nil {
		t.Fatal(err)
	}
	if e.m, err = New(ctx, e.st, e.hsms, Options{Sink: e.sink, StorageRoot: "/var/mhsm/storage", Now: e.clk.now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.m.Close)
}

func (e *env) create(t *testing.T, name string, mod func(*wire.ManagedHsm)) {
	t.Helper()
	days := 7
	in := wire.ManagedHsm{Location: "local", Sku: &wire.ManagedHsmSku{Family: "B", Name: "Standard_B1"},
		Properties: &wire.ManagedHsmProperties{TenantID: tenant, InitialAdminObjectIDs: []string{admin}, SoftDeleteRetentionInDays: &days}}
	if mod != nil {
		mod(&in)
	}
	_, op, err := e.m.PutHSM(context.Background(), Caller{ObjectID: admin}, e.sub.ID, "rg", name, in)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, ok := e.m.Operation(e.sub.ID, op.ID)
		if !ok {
			t.Fatal("operation vanished")
		}
		if o.Status == OpSucceeded {
			return
		}
		if o.Status == OpFailed || time.Now().After(deadline) {
			t.Fatalf("create %s: %+v", name, o)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDiagnosticSink(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, "hsm1", nil)
	scope := armrbac.HSMScope(e.sub.ID, "rg", "hsm1")
	props := func() wire.DiagnosticSettingsProperties {
		return wire.DiagnosticSettingsProperties{StorageAccountID: "/subscriptions/" + e.sub.ID + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs1",
			Logs: []wire.LogSettings{{Category: "auditevent", Enabled: true, RetentionPolicy: &wire.RetentionPolicy{Enabled: true, Days: 30}}}}
	}
	if _, err := e.m.PutDiagnosticSetting(ctx, adminRequester, scope, "a", props()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.PutDiagnosticSetting(ctx, adminRequester, scope, "b", props()); err != nil {
		t.Fatal(err)
	}
	got := e.sink.last["hsm1"]
	if len(got) != 2 || got[0].StorageDir != "/var/mhsm/storage/logs1" || got[0].RetentionDays != 30 || got[0].Categories[0] != AuditEventCategory {
		t.Fatalf("sink got %+v", got)
	}
	// A sink failure refuses the change.
	e.sink.fail = errors.New("disk full")
	if _, err := e.m.PutDiagnosticSetting(ctx, adminRequester, scope, "c", props()); err == nil {
		t.Fatal("a setting the sink refused was accepted")
	}
	e.sink.fail = nil
	if ds, _ := e.m.DiagnosticSettings(ctx, scope); len(ds) != 2 {
		t.Fatalf("refused setting stored: %d", len(ds))
	}
	// Start-up replays every HSM's settings.
	e.sink.last = map[string][]DiagnosticSetting{}
	e.reopen(t)
	if len(e.sink.last["hsm1"]) != 2 {
		t.Fatalf("replay: %+v", e.sink.last)
	}
	if found, err := e.m.DeleteDiagnosticSetting(ctx, scope, "A"); err != nil || !found {
		t.Fatalf("delete: %v %v", found, err)
	}
	if len(e.sink.last["hsm1"]) != 1 {
		t.Fatalf("after delete the sink has %+v", e.sink.last["hsm1"])
	}
	// Purging the HSM tells the sink to stop.
	if _, err := e.m.DeleteHSM(ctx, e.sub.ID, "rg", "hsm1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.PurgeHSM(ctx, e.sub.ID, "local", "hsm1"); err != nil {
		t.Fatal(err)
	}
	if s, ok := e.sink.last["hsm1"]; !ok || len(s) != 0 {
		t.Fatalf("after purge the sink has %+v", s)
	}
}

func TestNetworkRulesCheck(t *testing.T) {
	cases := []struct {
		name   string
		access string
		acls   wire.MHSMNetworkRuleSet
		ip     string
		allow  bool
		disab  bool
	}{
		{"open", "", wire.MHSMNetworkRuleSet{}, "203.0.113.9", true, false},
		{"disabled", "Disabled", wire.MHSMNetworkRuleSet{}, "127.0.0.1", false, true},
		{"deny no rules", "Enabled", wire.MHSMNetworkRuleSet{DefaultAction: "Deny"}, "127.0.0.1", false, false},
		{"deny cidr match", "Enabled", wire.MHSMNetworkRuleSet{DefaultAction: "deny", IPRules: []wire.MHSMIPRule{{Value: "10.0.0.0/8"}}}, "10.9.8.7", true, false},
		{"deny cidr miss", "Enabled", wire.MHSMNetworkRuleSet{DefaultAction: "Deny", IPRules: []wire.MHSMIPRule{{Value: "10.0.0.0/8"}}}, "11.0.0.1", false, false},
		{"deny single ip", "Enabled", wire.MHSMNetworkRuleSet{DefaultAction: "Deny", IPRules: []wire.MHSMIPRule{{Value: "192.0.2.1"}}}, "192.0.2.1", true, false},
		{"v4-mapped v6 client", "Enabled", wire.MHSMNetworkRuleSet{DefaultAction: "Deny", IPRules: []wire.MHSMIPRule{{Value: "192.0.2.1"}}}, "::ffff:192.0.2.1", true, false},
		{"unparsable client", "Enabled", wire.MHSMNetworkRuleSet{DefaultAction: "Deny", IPRules: []wire.MHSMIPRule{{Value: "0.0.0.0/0"}}}, "garbage", false, false},
		{"allow ignores rules", "Enabled", wire.MHSMNetworkRuleSet{DefaultAction: "Allow", IPRules: []wire.MHSMIPRule{{Value: "10.0.0.1"}}}, "8.8.8.8", true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			access, acls := c.access, c.acls
			if err := checkNetworkProps(&access, &acls); err != nil {
				t.Fatal(err)
			}
			d := compileNetwork(&hsmResource{PublicNetworkAccess: access, NetworkACLs: acls, Location: "local"}).check(c.ip)
			if (d == nil) != c.allow || (d != nil && d.Disabled != c.disab) {
				t.Fatalf("check(%s) = %+v", c.ip, d)
			}
		})
	}
	for _, bad := range []string{"not-an-ip", "2001:db8::1", "10.0.0.0/33", ""} {
		access, acls := "", wire.MHSMNetworkRuleSet{IPRules: []wire.MHSMIPRule{{Value: bad}}}
		if err := checkNetworkProps(&access, &acls); err == nil {
			t.Errorf("IP rule %q accepted", bad)
		}
	}
}

func TestProvisioningInterruptedByRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := &hsmResource{Name: "stuck", Subscription: e.sub.ID, ResourceGroup: "rg", Location: "local", TenantID: tenant, SoftDeleteDays: 7,
		PublicNetworkAccess: "Enabled", ProvisioningState: StateProvisioning}
	if err := e.st.Update(ctx, func(tx store.Tx) error { return store.PutJSON(tx, hsmKey("stuck"), r) }); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	h, err := e.m.GetHSM(ctx, e.sub.ID, "rg", "stuck")
	if err != nil || h.Properties.ProvisioningState != StateFailed {
		t.Fatalf("after restart: %+v %v", h, err)
	}
	// A failed resource can be created again (and deleted).
	e.create(t, "stuck", nil)
	if _, live := e.hsms.Get("stuck"); !live {
		t.Fatal("retried create did not provision")
	}
}

func TestNameTakenOutsideARM(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.hsms.Create(ctx, hsm.CreateParams{Name: "raw", TenantID: tenant}); err != nil {
		t.Fatal(err)
	}
	days := 7
	_, _, err := e.m.PutHSM(ctx, Caller{}, e.sub.ID, "rg", "raw", wire.ManagedHsm{Location: "local", Sku: &wire.ManagedHsmSku{Family: "B", Name: "Standard_B1"},
		Properties: &wire.ManagedHsmProperties{TenantID: tenant, InitialAdminObjectIDs: []string{admin}, SoftDeleteRetentionInDays: &days}})
	if me, ok := AsError(err); !ok || me.Kind != KindConflict {
		t.Fatalf("create over a data-plane HSM: %v", err)
	}
	if r, _ := e.m.CheckName(ctx, "raw"); r.NameAvailable {
		t.Fatal("name of a data-plane HSM reported available")
	}
}

func TestCreateValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	days := 7
	base := func() wire.ManagedHsm {
		return wire.ManagedHsm{Location: "local", Sku: &wire.ManagedHsmSku{Family: "B", Name: "Standard_B1"},
			Properties: &wire.ManagedHsmProperties{TenantID: tenant, InitialAdminObjectIDs: []string{admin}, SoftDeleteRetentionInDays: &days}}
	}
	f := false
	bad := map[string]func(*wire.ManagedHsm){
		"no location":       func(h *wire.ManagedHsm) { h.Location = "" },
		"no sku":            func(h *wire.ManagedHsm) { h.Sku = nil },
		"bad sku":           func(h *wire.ManagedHsm) { h.Sku.Name = "Premium" },
		"other tenant":      func(h *wire.ManagedHsm) { h.Properties.TenantID = "7a0c1f3e-0000-4000-8000-0000000000ff" },
		"no admins":         func(h *wire.ManagedHsm) { h.Properties.InitialAdminObjectIDs = nil },
		"admin not a GUID":  func(h *wire.ManagedHsm) { h.Properties.InitialAdminObjectIDs = []string{"bob"} },
		"soft delete off":   func(h *wire.ManagedHsm) { h.Properties.EnableSoftDelete = &f },
		"retention 6 days":  func(h *wire.ManagedHsm) { d := 6; h.Properties.SoftDeleteRetentionInDays = &d },
		"retention 91 days": func(h *wire.ManagedHsm) { d := 91; h.Properties.SoftDeleteRetentionInDays = &d },
		"bad network":       func(h *wire.ManagedHsm) { h.Properties.PublicNetworkAccess = "Sometimes" },
		"no properties":     func(h *wire.ManagedHsm) { h.Properties = nil },
	}
	for name, mod := range bad {
		in := base()
		mod(&in)
		if _, _, err := e.m.PutHSM(ctx, Caller{}, e.sub.ID, "rg", "valid-name", in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, n := range []string{"ab", "1abc", "a--b", "abc-", "a_b", "abcdefghijklmnopqrstuvwxy"} {
		if _, _, err := e.m.PutHSM(ctx, Caller{}, e.sub.ID, "rg", n, base()); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
	if _, _, err := e.m.PutHSM(ctx, Caller{}, e.sub.ID, "missing-rg", "valid-name", base()); !IsNotFound(err) {
		t.Errorf("missing resource group: %v", err)
	}
}

func TestSubscriptionOwnerAndVisibility(t *testing.T) {
	e := newEnv(t)
	p := e.m.Policy()
	me := armrbac.Principal{ObjectID: admin}
	if !p.Decide(me, armrbac.RoleAssignmentsWrite, armrbac.HSMScope(e.sub.ID, "rg", "x")).Allowed {
		t.Fatal("the owner given at creation is not Owner")
	}
	if p.Visible(armrbac.Principal{ObjectID: tenant}, armrbac.SubscriptionScope(e.sub.ID)) {
		t.Fatal("a stranger sees the subscription")
	}
	if subs, _ := e.m.Subscriptions(context.Background(), "7a0c1f3e-0000-4000-8000-0000000000ff"); len(subs) != 0 {
		t.Fatal("another tenant lists the subscription")
	}
}

// TestNameFreeAfterRetentionPurge: an HSM purged at the end of its
// retention frees its name, and a new HSM of that name inherits none of
// the old one's management assignments or diagnostic settings.
func TestNameFreeAfterRetentionPurge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, "reused", nil)
	scope := armrbac.HSMScope(e.sub.ID, "rg", "reused")
	reader := "7a0c1f3e-0000-4000-8000-0000000000bb"
	if _, err := e.m.Assign(ctx, scope, armrbac.RoleReader, reader); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.PutDiagnosticSetting(ctx, adminRequester, scope, "logs", wire.DiagnosticSettingsProperties{
		StorageAccountID: "/subscriptions/" + e.sub.ID + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs1",
		Logs:             []wire.LogSettings{{Category: "AuditEvent", Enabled: true}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.DeleteHSM(ctx, e.sub.ID, "rg", "reused"); err != nil {
		t.Fatal(err)
	}
	e.clk.add(8 * 24 * time.Hour)
	e.hsms.Tick(ctx)
	if r, _ := e.m.CheckName(ctx, "reused"); !r.NameAvailable {
		t.Fatalf("name after the retention purge: %+v", r)
	}
	e.create(t, "reused", nil)
	if e.m.Policy().Decide(armrbac.Principal{ObjectID: reader}, armrbac.HSMRead, scope).Allowed {
		t.Fatal("the new HSM inherited a management assignment of the purged one")
	}
	if ds, _ := e.m.Settings(ctx, "reused"); len(ds) != 0 {
		t.Fatalf("the new HSM inherited diagnostic settings: %+v", ds)
	}
}
