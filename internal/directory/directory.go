// Package directory is mhsm's identity directory: tenants and the principals
// in them. Every principal is named by an object id (a GUID) that role
// assignments refer to; names and UPNs are never identifiers. Read
// directory.go, then serviceprincipal.go.
package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/store"
)

// Errors returned by the directory.
var (
	ErrNotFound      = errors.New("directory: not found")
	ErrExists        = errors.New("directory: already exists")
	ErrBadCredential = errors.New("directory: invalid client credentials")
)

// Tenant is one directory tenant.
type Tenant struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	Domains     []string  `json:"domains"`
	Created     time.Time `json:"created"`
}

// Directory stores tenants and principals in a store.Backend.
type Directory struct {
	st  store.Backend
	now func() time.Time
}

// New returns a Directory over st.
func New(st store.Backend) *Directory {
	return &Directory{st: st, now: time.Now}
}

func tenantKey(id string) string { return "dir/" + id + "/tenant" }

// CreateTenant creates a tenant with a new GUID and one verified domain.
func (d *Directory) CreateTenant(ctx context.Context, displayName, domain string) (*Tenant, error) {
	t := &Tenant{ID: uuid.NewString(), DisplayName: displayName, Domains: []string{domain}, Created: d.now().UTC()}
	err := d.st.Update(ctx, func(tx store.Tx) error { return putJSON(tx, tenantKey(t.ID), t) })
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Tenant returns the tenant with the given id.
func (d *Directory) Tenant(ctx context.Context, id string) (*Tenant, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	var t Tenant
	err := d.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, tenantKey(strings.ToLower(id)), &t) })
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func putJSON(tx store.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

func getJSON(tx store.Tx, key string, v any) error {
	b, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("directory: decode %s: %w", key, err)
	}
	return nil
}
