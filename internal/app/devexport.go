package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// DevStateFormat names the state file format (mhsm dev export, --seed).
const DevStateFormat = "mhsm-dev-state/1"

// DevState is a dev server's state as mhsm dev export writes it and
// --seed reads it: the directory (tenants, users, groups, applications,
// service principals) as its records, the dev principal, and every live
// HSM with its settings, custom role definitions, role assignments and
// keys. Without secrets, client secret and password hashes, managed
// identity header digests, the dev principal's secret and key material are
// left out; keys keep their versions, attributes and public keys, and a
// seed gives each version fresh material. Everything is sorted, so two
// exports of the same state are byte-identical. Not exported: deleted keys
// and HSMs, the management plane, token signing keys, the clock offset,
// fault rules and audit logs.
type DevState struct {
	Format          string            `json:"format"`
	IncludesSecrets bool              `json:"includesSecrets"`
	DevPrincipal    DevPrincipalState `json:"devPrincipal"`
	Directory       []DirRecord       `json:"directory"`
	HSMs            []HSMState        `json:"hsms"`
}

// DevPrincipalState is the dev service principal (dev.json's identity).
type DevPrincipalState struct {
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ObjectID     string `json:"objectId"`
	ClientSecret string `json:"clientSecret,omitempty"` // secrets only
}

// DirRecord is one directory record: JSON in Value, else text in Text.
type DirRecord struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value,omitempty"`
	Text  string          `json:"text,omitempty"`
}

// HSMState is one live HSM.
type HSMState struct {
	Name            string                `json:"name"`
	TenantID        string                `json:"tenantId"`
	SoftDeleteDays  int                   `json:"softDeleteDays"`
	PurgeProtection bool                  `json:"purgeProtection"`
	Settings        []hsm.Setting         `json:"settings"`
	RoleDefinitions []rbac.RoleDefinition `json:"roleDefinitions"`
	RoleAssignments []rbac.RoleAssignment `json:"roleAssignments"`
	Keys            []hsm.KeyState        `json:"keys"`
}

// directoryPrefixes hold every directory record (internal/directory).
var directoryPrefixes = []string{"dir/", "dirx/"}

// secretFields are the fields of directory records left out without
// secrets: client secret hashes (applications) and password hashes
// (users).
var secretFields = []string{"passwordCredentials", "passwordHash"}

// exportState is the handler of POST /mhsm/dev/export.
func (a *App) exportState(ctx context.Context, includeSecrets bool) (any, error) {
	return a.ExportState(ctx, includeSecrets)
}

// ExportState returns the server's DevState (dev mode only).
func (a *App) ExportState(ctx context.Context, includeSecrets bool) (*DevState, error) {
	if a.Dev == nil {
		return nil, errors.New("export: not a dev-mode server")
	}
	out := &DevState{Format: DevStateFormat, IncludesSecrets: includeSecrets, Directory: []DirRecord{}, HSMs: []HSMState{},
		DevPrincipal: DevPrincipalState{TenantID: a.Dev.TenantID, ClientID: a.Dev.ClientID}}
	if includeSecrets {
		out.DevPrincipal.ClientSecret = a.Dev.ClientSecret
	}
	err := a.st.View(ctx, func(tx store.Tx) error {
		var ds devState
		if b, err := tx.Get(devStateKey); err != nil {
			return err
		} else if err := json.Unmarshal(b, &ds); err != nil {
			return err
		}
		out.DevPrincipal.ObjectID = ds.ObjectID
		for _, p := range directoryPrefixes {
			kvs, err := tx.List(p, "", 0)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				if !includeSecrets && strings.HasPrefix(kv.Key, "dirx/mihdr/") {
					continue // managed identity header digests
				}
				r, err := dirRecord(kv.Key, kv.Value, includeSecrets)
				if err != nil {
					return err
				}
				out.Directory = append(out.Directory, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export directory: %w", err)
	}
	for _, name := range a.hsms.List() {
		h, ok := a.hsms.Get(name)
		if !ok {
			continue
		}
		hs, err := a.exportHSM(ctx, h, includeSecrets)
		if err != nil {
			return nil, fmt.Errorf("export HSM %s: %w", name, err)
		}
		out.HSMs = append(out.HSMs, *hs)
	}
	sort.Slice(out.HSMs, func(i, j int) bool { return out.HSMs[i].Name < out.HSMs[j].Name })
	return out, nil
}

// dirRecord converts a directory record, without its secret fields unless
// includeSecrets.
func dirRecord(key string, v []byte, includeSecrets bool) (DirRecord, error) {
	r := DirRecord{Key: key}
	switch {
	case len(v) == 0:
	case json.Valid(v) && (v[0] == '{' || v[0] == '['):
		r.Value = json.RawMessage(v)
		if !includeSecrets && v[0] == '{' {
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				return r, err
			}
			strip := false
			for _, f := range secretFields {
				if _, ok := m[f]; ok {
					delete(m, f)
					strip = true
				}
			}
			if strip {
				b, err := json.Marshal(m)
				if err != nil {
					return r, err
				}
				r.Value = b
			}
		}
	case utf8.Valid(v):
		r.Text = string(v)
	default:
		return r, fmt.Errorf("directory record %s is neither JSON nor text", key)
	}
	return r, nil
}

func (a *App) exportHSM(ctx context.Context, h *hsm.HSM, includeSecrets bool) (*HSMState, error) {
	hs := &HSMState{Name: h.Name, TenantID: h.TenantID, SoftDeleteDays: h.SoftDeleteDays, PurgeProtection: h.PurgeProtection,
		RoleDefinitions: []rbac.RoleDefinition{}}
	var err error
	if hs.Settings, err = a.hsms.Settings(ctx, h); err != nil {
		return nil, err
	}
	defs, err := a.hsms.RoleDefinitions(ctx, h)
	if err != nil {
		return nil, err
	}
	for _, d := range defs {
		if d.Type == rbac.TypeCustom {
			hs.RoleDefinitions = append(hs.RoleDefinitions, d)
		}
	}
	if hs.RoleAssignments, err = a.hsms.Assignments(ctx, h); err != nil {
		return nil, err
	}
	if hs.Keys, err = a.hsms.ExportKeys(ctx, h, includeSecrets); err != nil {
		return nil, err
	}
	sort.Slice(hs.Settings, func(i, j int) bool { return hs.Settings[i].Name < hs.Settings[j].Name })
	sort.Slice(hs.RoleDefinitions, func(i, j int) bool { return hs.RoleDefinitions[i].ID < hs.RoleDefinitions[j].ID })
	sort.Slice(hs.RoleAssignments, func(i, j int) bool { return hs.RoleAssignments[i].ID < hs.RoleAssignments[j].ID })
	if hs.Keys == nil {
		hs.Keys = []hsm.KeyState{}
	}
	return hs, nil
}
