package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/store"
)

// seed loads the DevState file cfg.Seed into a fresh store (dev mode
// only), before ensureDev: the directory records as they were, the dev
// principal's identity (its secret too when the file has it, else a new
// secret on the same principal), and every HSM with its settings, role
// definitions, role assignments and keys. A store that already holds dev
// state (a restart of a persistent dev server) is left alone.
func (a *App) seed(ctx context.Context, cfg *config.Server) error {
	if cfg.Seed == "" {
		return nil
	}
	err := a.st.View(ctx, func(tx store.Tx) error { _, err := tx.Get(devStateKey); return err })
	if err == nil {
		slog.Info("dev mode: the store holds dev state already; --seed ignored", "seed", cfg.Seed)
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	b, err := os.ReadFile(cfg.Seed)
	if err != nil {
		return err
	}
	var s DevState
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s: %w", cfg.Seed, err)
	}
	if s.Format != DevStateFormat {
		return fmt.Errorf("%s: format %q, want %q", cfg.Seed, s.Format, DevStateFormat)
	}
	if len(a.hsms.List()) != 0 {
		return errors.New("the store holds HSMs already; seed a fresh data dir or use --ephemeral")
	}
	if err := a.st.Update(ctx, func(tx store.Tx) error {
		for _, r := range s.Directory {
			v := []byte(r.Value)
			if r.Value == nil {
				v = []byte(r.Text)
			}
			if err := tx.Put(r.Key, v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	if err := a.seedDevPrincipal(ctx, &s.DevPrincipal); err != nil {
		return fmt.Errorf("dev principal: %w", err)
	}
	for i := range s.HSMs {
		if err := a.seedHSM(ctx, &s.HSMs[i]); err != nil {
			return fmt.Errorf("HSM %s: %w", s.HSMs[i].Name, err)
		}
	}
	slog.Info("dev mode: seeded", "seed", cfg.Seed, "hsms", len(s.HSMs), "withSecrets", s.IncludesSecrets)
	return nil
}

// seedDevPrincipal records the dev principal as ensureDev would have, so
// ensureDev keeps it instead of making a new one.
func (a *App) seedDevPrincipal(ctx context.Context, p *DevPrincipalState) error {
	if p.TenantID == "" || p.ClientID == "" || p.ObjectID == "" {
		return errors.New("the state names no dev principal")
	}
	secret := p.ClientSecret
	if secret == "" {
		var err error
		if secret, err = a.dir.AddSecret(ctx, p.TenantID, p.ClientID, 10*365*24*time.Hour); err != nil {
			return err
		}
	}
	ds := &devState{TenantID: p.TenantID, ClientID: p.ClientID, ObjectID: p.ObjectID,
		SealedSecret: a.sysKey.Seal([]byte(secret), []byte(devStateKey)), HSMReady: true}
	return saveDevState(ctx, a.st, ds)
}

func (a *App) seedHSM(ctx context.Context, s *HSMState) error {
	h, err := a.hsms.Create(ctx, hsm.CreateParams{Name: s.Name, TenantID: s.TenantID, SoftDeleteDays: s.SoftDeleteDays,
		PurgeProtection: s.PurgeProtection, Activated: true})
	if err != nil {
		return err
	}
	for _, st := range s.Settings {
		if _, err := a.hsms.UpdateSetting(ctx, h, st.Name, st.Value); err != nil {
			return fmt.Errorf("setting %s: %w", st.Name, err)
		}
	}
	for _, d := range s.RoleDefinitions {
		if _, err := a.hsms.PutRoleDefinition(ctx, h, d); err != nil {
			return fmt.Errorf("role definition %s: %w", d.ID, err)
		}
	}
	for _, ra := range s.RoleAssignments {
		if _, err := a.hsms.Assign(ctx, h, ra); err != nil {
			return fmt.Errorf("role assignment %s: %w", ra.ID, err)
		}
	}
	return a.hsms.ImportKeys(ctx, h, s.Keys)
}
