package hsm

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// MinRotationDays is Managed HSM's lower bound on expiryTime and
// timeAfterCreate, and on the gap between timeBeforeExpiry and expiryTime.
const MinRotationDays = 28

// GetRotationPolicy returns the key's rotation policy; a key without one
// has the service's default policy (see defaultPolicy).
func (s *Service) GetRotationPolicy(ctx context.Context, h *HSM, name string) (*wire.KeyRotationPolicy, error) {
	k, err := s.readKey(ctx, h, name, false)
	if err != nil {
		return nil, err
	}
	return h.policyOut(k), nil
}

// policyOut returns k's rotation policy as the API shows it. k may be a
// shared cached record: the result shares no slice or pointer with it.
func (h *HSM) policyOut(k *keyRecord) *wire.KeyRotationPolicy {
	p := defaultPolicy()
	if rp := k.RotationPolicy; rp != nil {
		p = wire.KeyRotationPolicy{LifetimeActions: slices.Clone(rp.LifetimeActions), Attributes: copyPtr(rp.Attributes)}
	}
	p.ID = h.BaseURL + "/keys/" + k.Name + "/rotationpolicy"
	return &p
}

// defaultPolicy is the policy of a key none was set for, as Key Vault
// answers it: a Notify action 30 days before expiry and no expiry time.
// It rotates nothing; on-demand rotation needs no policy.
func defaultPolicy() wire.KeyRotationPolicy {
	return wire.KeyRotationPolicy{
		LifetimeActions: []wire.LifetimeAction{{Trigger: wire.LifetimeTrigger{TimeBeforeExpiry: "P30D"}, Action: wire.LifetimeType{Type: "Notify"}}},
		Attributes:      &wire.RotationPolicyAttributes{},
	}
}

// SetRotationPolicy validates and stores a rotation policy.
func (s *Service) SetRotationPolicy(ctx context.Context, h *HSM, name string, p *wire.KeyRotationPolicy) (*wire.KeyRotationPolicy, error) {
	if err := checkRotationPolicy(p, s.now()); err != nil {
		return nil, err
	}
	var out *wire.KeyRotationPolicy
	err := s.st.Update(ctx, func(tx store.Tx) error {
		k, err := loadKey(tx, h.Name, name, false)
		if err != nil {
			return err
		}
		now := s.now().Unix()
		np := &wire.KeyRotationPolicy{LifetimeActions: p.LifetimeActions, Attributes: &wire.RotationPolicyAttributes{Updated: now, Created: now}}
		if np.LifetimeActions == nil {
			np.LifetimeActions = []wire.LifetimeAction{}
		}
		if p.Attributes != nil {
			np.Attributes.ExpiryTime = p.Attributes.ExpiryTime
		}
		if k.RotationPolicy != nil && k.RotationPolicy.Attributes != nil && k.RotationPolicy.Attributes.Created != 0 {
			np.Attributes.Created = k.RotationPolicy.Attributes.Created
		}
		k.RotationPolicy = np
		if err := putJSON(tx, keyKey(h.Name, strings.ToLower(k.Name)), k); err != nil {
			return err
		}
		out = h.policyOut(k)
		return nil
	})
	return out, err
}

func checkRotationPolicy(p *wire.KeyRotationPolicy, now time.Time) error {
	var expiry *isoDuration
	if p.Attributes != nil && p.Attributes.ExpiryTime != "" {
		d, err := parseISODuration(p.Attributes.ExpiryTime)
		if err != nil {
			return badRequest("expiryTime %q is not an ISO 8601 duration", p.Attributes.ExpiryTime)
		}
		if !d.atLeast(now, MinRotationDays) {
			return badRequest("expiryTime must be at least %d days", MinRotationDays)
		}
		expiry = &d
	}
	for _, a := range p.LifetimeActions {
		switch strings.ToLower(a.Action.Type) {
		case "rotate":
		case "notify":
			return badRequest("the Notify action is not supported by Managed HSM; use Rotate")
		default:
			return badRequest("lifetime action type %q is not valid; use Rotate", a.Action.Type)
		}
		t := a.Trigger
		if (t.TimeAfterCreate == "") == (t.TimeBeforeExpiry == "") {
			return badRequest("each lifetime action needs exactly one of timeAfterCreate and timeBeforeExpiry")
		}
		if t.TimeAfterCreate != "" {
			d, err := parseISODuration(t.TimeAfterCreate)
			if err != nil {
				return badRequest("timeAfterCreate %q is not an ISO 8601 duration", t.TimeAfterCreate)
			}
			if !d.atLeast(now, MinRotationDays) {
				return badRequest("timeAfterCreate must be at least %d days", MinRotationDays)
			}
			continue
		}
		d, err := parseISODuration(t.TimeBeforeExpiry)
		if err != nil {
			return badRequest("timeBeforeExpiry %q is not an ISO 8601 duration", t.TimeBeforeExpiry)
		}
		if expiry == nil {
			return badRequest("timeBeforeExpiry needs an expiryTime in the policy attributes")
		}
		if d.after(now).After(expiry.after(now).AddDate(0, 0, -MinRotationDays)) {
			return badRequest("timeBeforeExpiry must be at most expiryTime minus %d days", MinRotationDays)
		}
	}
	return nil
}

// RotateKey makes a new version of a key with the same type and size,
// inheriting key_ops, tags and release policy; its expiry follows the
// rotation policy's expiryTime. A key without a policy rotates too (on
// demand, Key Vault needs none); its new version has no expiry.
func (s *Service) RotateKey(ctx context.Context, h *HSM, name string) (*wire.KeyBundle, error) {
	k, latest, err := s.readKeyVersion(ctx, h, name, "", false)
	if err != nil {
		return nil, err
	}
	policy := k.RotationPolicy // shared (record cache): read only; nil: none
	m, err := keys.Generate(latest.Public.Kty, latest.Size, latest.Public.Crv)
	if err != nil {
		return nil, err
	}
	defer m.Zero()
	attrs := &wire.KeyAttributes{}
	if policy != nil && policy.Attributes != nil && policy.Attributes.ExpiryTime != "" {
		if d, err := parseISODuration(policy.Attributes.ExpiryTime); err == nil {
			exp := d.after(s.now()).Unix()
			attrs.Expires = &exp
		}
	}
	return s.storeNewVersion(ctx, h, name, m, newVersionParams{attrs: attrs, inherit: true})
}

// dueForRotation reports whether the policy says the latest version must
// be rotated at now.
func dueForRotation(p *wire.KeyRotationPolicy, v *versionRecord, now time.Time) bool {
	if p == nil {
		return false
	}
	created := time.Unix(v.Created, 0)
	for _, a := range p.LifetimeActions {
		if !strings.EqualFold(a.Action.Type, "rotate") {
			continue
		}
		if d, err := parseISODuration(a.Trigger.TimeAfterCreate); err == nil && !now.Before(d.after(created)) {
			return true
		}
		if d, err := parseISODuration(a.Trigger.TimeBeforeExpiry); err == nil && v.Expires != nil &&
			!now.Before(d.before(time.Unix(*v.Expires, 0))) {
			return true
		}
	}
	return false
}

// Tick runs the periodic work of every HSM once: keys whose rotation
// policy is due are rotated, and deleted keys past their scheduled purge
// date are purged. Errors are logged and the scan goes on.
func (s *Service) Tick(ctx context.Context) {
	for _, name := range s.List() {
		h, ok := s.Get(name)
		if !ok {
			continue
		}
		var due []string
		var next string
		now := s.now()
		err := s.scanKeys(ctx, h, "", 1<<30, false, func(tx store.Tx, k *keyRecord) error {
			if k.RotationPolicy == nil {
				return nil
			}
			v, err := loadVersion(tx, h.Name, k, "")
			if err != nil {
				return err
			}
			if dueForRotation(k.RotationPolicy, v, now) {
				due = append(due, k.Name)
			}
			return nil
		}, &next)
		if err != nil {
			slog.Error("rotation scan failed", "hsm", name, "err", err)
		}
		for _, k := range due {
			if _, err := s.RotateKey(ctx, h, k); err != nil {
				slog.Error("automatic rotation failed", "hsm", name, "key", k, "err", err)
			} else {
				slog.Info("key rotated by policy", "hsm", name, "key", k)
			}
		}
		if err := s.purgeDue(ctx, h); err != nil {
			slog.Error("purge of expired deleted keys failed", "hsm", name, "err", err)
		}
	}
	s.purgeDueHSMs(ctx) // lifecycle.go
}

// Run calls Tick every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Tick(ctx)
		}
	}
}
