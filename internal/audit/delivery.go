package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrUnknownDestination is returned by Configure for a storage account that
// is neither a configured destination nor, without a storage root, allowed.
var ErrUnknownDestination = errors.New("audit: no such log destination")

// Setting is one diagnostic setting routing an HSM's AuditEvent records to
// a destination.
type Setting struct {
	HSM         string `json:"hsm"`
	Name        string `json:"name"`
	Destination string `json:"destination"`
}

// DeliveryOptions configure a Delivery.
type DeliveryOptions struct {
	// Destinations are the storage accounts of the server configuration,
	// by name.
	Destinations map[string]Destination
	// StorageRoot, if set, stands in for any other storage account: account
	// A is the local directory StorageRoot/A.
	StorageRoot string
	// RetryInterval is how often failed deliveries are retried. Default 5s.
	RetryInterval time.Duration
	// BatchDelay gathers records after a commit before delivering. Default
	// 200ms.
	BatchDelay time.Duration
}

// Delivery copies each HSM's chain, lines unchanged (records and
// checkpoints, so delivered logs verify), to the destinations its
// diagnostic settings name, in Azure's layout:
//
//	insights-logs-auditevent/resourceId=<ARM id>/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json
//
// It reads the durable part of the local chain, so it delivers only what
// was acknowledged, and keeps per (HSM, destination) the last seq
// delivered in <audit dir>/delivery.json, so a restart resumes where it
// stopped. Delivery is at least once: a crash between an append and saving
// the cursor repeats lines, which readers drop (same seq, same bytes).
type Delivery struct {
	log  *Log
	opts DeliveryOptions
	path string

	cfgMu   sync.Mutex // serialises setting changes
	mu      sync.Mutex // guards st
	st      deliveryState
	passMu  sync.Mutex // one delivery pass at a time
	readers map[string]*chainReader
	failing map[string]bool
	kick    chan struct{}
}

type deliveryState struct {
	Settings []Setting         `json:"settings"`
	Cursors  map[string]cursor `json:"cursors"` // key hsm "/" destination
}

type cursor struct {
	Seq  uint64 `json:"seq"`
	Blob string `json:"blob"`
}

// NewDelivery loads the delivery state kept next to l's chains.
func NewDelivery(l *Log, o DeliveryOptions) (*Delivery, error) {
	if o.RetryInterval <= 0 {
		o.RetryInterval = 5 * time.Second
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = 200 * time.Millisecond
	}
	for name := range o.Destinations {
		if !accountName.MatchString(name) {
			return nil, fmt.Errorf("audit: destination name %q: use lower-case letters, digits and dashes", name)
		}
	}
	d := &Delivery{log: l, opts: o, path: filepath.Join(l.Dir(), "delivery.json"),
		st: deliveryState{Cursors: map[string]cursor{}}, readers: map[string]*chainReader{},
		failing: map[string]bool{}, kick: make(chan struct{}, 1)}
	b, err := os.ReadFile(d.path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &d.st); err != nil {
			return nil, fmt.Errorf("audit: %s: %w", d.path, err)
		}
		if d.st.Cursors == nil {
			d.st.Cursors = map[string]cursor{}
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("audit: %w", err)
	}
	l.Subscribe(func(string) {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	})
	return d, nil
}

var accountName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// DestinationName reduces a storage account reference — an ARM id
// (…/providers/Microsoft.Storage/storageAccounts/<name>) or a bare name — to
// the account name.
func DestinationName(storageAccount string) string {
	s := strings.TrimRight(storageAccount, "/")
	if i := strings.LastIndex(strings.ToLower(s), "/storageaccounts/"); i >= 0 {
		s = s[i+len("/storageaccounts/"):]
	}
	return strings.ToLower(s)
}

func (d *Delivery) destination(name string) (Destination, error) {
	if dst, ok := d.opts.Destinations[name]; ok {
		return dst, nil
	}
	if d.opts.StorageRoot != "" && accountName.MatchString(name) {
		return LocalDir(filepath.Join(d.opts.StorageRoot, name)), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownDestination, name)
}

// Configure makes (or replaces) diagnostic setting `setting` of hsm, routing
// its records to storageAccount (an ARM id or a name; see DestinationName).
// Only destinations of the server configuration (or accounts under its
// storage root) can be named: never a path. A new destination receives
// records from now on. Configure is idempotent.
func (d *Delivery) Configure(hsm, setting, storageAccount string) error {
	return d.update(hsm, func(old []Setting) []Setting {
		var out []Setting
		for _, s := range old {
			if s.Name != setting {
				out = append(out, s)
			}
		}
		return append(out, Setting{HSM: hsm, Name: setting, Destination: DestinationName(storageAccount)})
	})
}

// Replace makes settings (each naming its Destination by account name or
// ARM id) the complete set of hsm's diagnostic settings; none stops all
// delivery of hsm. This is how the management plane hands settings over,
// on every change and for every HSM at start-up; it is idempotent and,
// on error, changes nothing.
func (d *Delivery) Replace(hsm string, settings []Setting) error {
	return d.update(hsm, func([]Setting) []Setting {
		out := make([]Setting, 0, len(settings))
		for _, s := range settings {
			out = append(out, Setting{HSM: hsm, Name: s.Name, Destination: DestinationName(s.Destination)})
		}
		return out
	})
}

// update replaces hsm's settings with change(current ones), after checking
// every destination exists.
func (d *Delivery) update(hsm string, change func([]Setting) []Setting) error {
	if _, err := chainOf(hsm); err != nil || hsm == "" {
		return fmt.Errorf("audit: %q is not an HSM name", hsm)
	}
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	d.mu.Lock()
	var mine, others []Setting
	for _, s := range d.st.Settings {
		if s.HSM == hsm {
			mine = append(mine, s)
		} else {
			others = append(others, s)
		}
	}
	d.mu.Unlock()
	mine = change(mine)
	for _, s := range mine {
		if _, err := d.destination(s.Destination); err != nil {
			return err
		}
	}
	var pos position
	if len(mine) > 0 {
		if err := d.log.Ready(hsm); err != nil {
			return err
		}
		pos, _ = d.log.durable(hsm)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	settings := append(others, mine...)
	next := deliveryState{Settings: settings, Cursors: d.cursorsFor(settings)}
	for _, s := range mine {
		if _, ok := next.Cursors[hsm+"/"+s.Destination]; !ok {
			next.Cursors[hsm+"/"+s.Destination] = cursor{Seq: pos.Seq}
		}
	}
	if err := d.saveLocked(next); err != nil {
		return err
	}
	d.poke()
	return nil
}

// Remove deletes diagnostic setting `setting` of hsm (absent is not an
// error). A destination no setting names any more stops receiving records.
func (d *Delivery) Remove(hsm, setting string) error {
	return d.update(hsm, func(old []Setting) []Setting {
		var out []Setting
		for _, s := range old {
			if s.Name != setting {
				out = append(out, s)
			}
		}
		return out
	})
}

// cursorsFor keeps the cursors that settings still use.
func (d *Delivery) cursorsFor(settings []Setting) map[string]cursor {
	out := map[string]cursor{}
	for _, s := range settings {
		k := s.HSM + "/" + s.Destination
		if c, ok := d.st.Cursors[k]; ok {
			out[k] = c
		}
	}
	return out
}

// Settings lists the settings of hsm ("" for all), sorted.
func (d *Delivery) Settings(hsm string) []Setting {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Setting
	for _, s := range d.st.Settings {
		if hsm == "" || s.HSM == hsm {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HSM+"/"+out[i].Name < out[j].HSM+"/"+out[j].Name })
	return out
}

func (d *Delivery) saveLocked(st deliveryState) error {
	b, err := json.MarshalIndent(&st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(d.path, b, 0o600); err != nil {
		return fmt.Errorf("audit: save delivery state: %w", err)
	}
	d.st = st
	return nil
}

func (d *Delivery) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: shortly after each commit, and every
// RetryInterval.
func (d *Delivery) Run(ctx context.Context) {
	t := time.NewTicker(d.opts.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
			select {
			case <-ctx.Done():
				return
			case <-time.After(d.opts.BatchDelay):
			}
		case <-t.C:
		}
		_ = d.Flush(ctx)
	}
}

// Flush delivers everything durable now to every destination and returns
// the first failure.
func (d *Delivery) Flush(ctx context.Context) error {
	d.passMu.Lock()
	defer d.passMu.Unlock()
	d.mu.Lock()
	keys := make([]string, 0, len(d.st.Cursors))
	for k := range d.st.Cursors {
		keys = append(keys, k)
	}
	d.mu.Unlock()
	sort.Strings(keys)
	var first error
	for _, k := range keys {
		hsm, dest, _ := strings.Cut(k, "/")
		err := d.deliver(ctx, k, hsm, dest)
		if err != nil && first == nil {
			first = err
		}
		switch {
		case err != nil && !d.failing[k]:
			slog.Warn("audit: delivery failing; will retry", "hsm", hsm, "destination", dest, "err", err)
		case err == nil && d.failing[k]:
			slog.Info("audit: delivery recovered", "hsm", hsm, "destination", dest)
		}
		d.failing[k] = err != nil
	}
	return first
}

// deliver sends hsm's durable lines after the cursor of k to dest.
func (d *Delivery) deliver(ctx context.Context, k, hsm, dest string) error {
	dst, err := d.destination(dest)
	if err != nil {
		return err
	}
	pos, ok := d.log.durable(hsm)
	d.mu.Lock()
	c, live := d.st.Cursors[k]
	d.mu.Unlock()
	if !ok || !live || pos.Seq <= c.Seq {
		return nil
	}
	rd := d.readers[k]
	if rd == nil || rd.seq != c.Seq {
		rd = &chainReader{dir: filepath.Join(d.log.Dir(), hsm), seq: c.Seq}
		d.readers[k] = rd
	}
	prefix := "resourceId=" + strings.ToUpper(d.log.resourceID(hsm)) + "/"
	for c.Seq < pos.Seq {
		lines, err := rd.next(pos, 4<<20-maxLine)
		if err != nil {
			delete(d.readers, k)
			return err
		}
		if len(lines) == 0 {
			return nil
		}
		for len(lines) > 0 {
			blob := prefix + hourPath(lines[0].time)
			if strings.HasPrefix(c.Blob, prefix) && blob < c.Blob {
				blob = c.Blob // never go back an hour: blob order stays chain order
			}
			var data []byte
			n := 0
			for n < len(lines) && (n == 0 || lineBlob(prefix, lines[n].time, blob) == blob) {
				data = append(append(data, lines[n].line...), '\n')
				n++
			}
			if err := dst.Append(ctx, blob, data); err != nil {
				delete(d.readers, k)
				return err
			}
			c = cursor{Seq: lines[n-1].seq, Blob: blob}
			lines = lines[n:]
			d.mu.Lock()
			if _, live := d.st.Cursors[k]; live {
				next := deliveryState{Settings: d.st.Settings, Cursors: map[string]cursor{}}
				for kk, cc := range d.st.Cursors {
					next.Cursors[kk] = cc
				}
				next.Cursors[k] = c
				err = d.saveLocked(next)
			}
			d.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func lineBlob(prefix string, t time.Time, current string) string {
	b := prefix + hourPath(t)
	if b < current {
		return current
	}
	return b
}

// hourPath is the y=/m=/d=/h=/m=00/PT1H.json part of a blob name.
func hourPath(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("y=%04d/m=%02d/d=%02d/h=%02d/m=00/PT1H.json", t.Year(), int(t.Month()), t.Day(), t.Hour())
}
