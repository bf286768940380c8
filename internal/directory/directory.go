// Package directory is mhsm's identity directory: tenants and the
// principals in them — users, security groups, applications and their
// service principals, user-assigned managed identities — and the one
// directory role, tenant administrator. Every principal is named by an
// object id (a GUID) that role assignments refer to; names and UPNs are
// never identifiers.
//
// Nothing here speaks HTTP: the Graph API and the token endpoint in
// package httpapi call these methods. Credentials are checked here, in
// constant time and with a bounded retry budget per principal
// (lockout.go); passwords are stored as argon2id hashes (password.go),
// client secrets and managed-identity headers as SHA-256 digests of
// 256-bit random values.
//
// Every change bumps Generation, which the token verifier checks on cache
// hits so that a disabled or deleted principal loses access at once.
//
// Read directory.go, then user.go, group.go, application.go,
// serviceprincipal.go, identity.go.
package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/store"
)

// Errors returned by the directory.
var (
	// ErrNotFound is store.ErrNotFound: a directory object is absent
	// exactly when its record is (store.GetJSON's contract).
	ErrNotFound      = store.ErrNotFound
	ErrExists        = errors.New("directory: already exists")
	ErrBadCredential = errors.New("directory: invalid credentials")
	// ErrLocked is returned instead of checking a credential while the
	// principal's retry budget is spent. It is returned for unknown names
	// too, so it reveals nothing about which names exist.
	ErrLocked = errors.New("directory: too many failed attempts; try again later")
	// ErrInvalid wraps a rejected argument; its message is safe to show.
	ErrInvalid = errors.New("directory: invalid request")
)

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// Tenant is one directory tenant. Domains are its verified domains: every
// user's UPN ends in one of them.
type Tenant struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	Domains     []string  `json:"domains"`
	Created     time.Time `json:"created"`
}

// Options tune a Directory. The zero value is the production setting.
type Options struct {
	// Password is the argon2id cost; zero means DefaultPasswordParams.
	Password PasswordParams
	// Lockout is the brute-force protection; zero fields take
	// DefaultLockout's values.
	Lockout LockoutPolicy
}

// Directory stores tenants and principals in a store.Backend.
type Directory struct {
	st      store.Backend
	now     func() time.Time
	pw      PasswordParams
	lock    *lockout
	gen     atomic.Uint64
	dummyMu sync.Mutex
	dummy   string // hash compared against for unknown users

	groupsMu  sync.Mutex
	groupsGen uint64
	groups    map[string][]string // tid/oid → transitive groups at groupsGen

	memberGuard atomic.Pointer[MembershipGuard] // membercheck.go
}

// New returns a Directory over st with production settings.
func New(st store.Backend) *Directory { return NewWithOptions(st, Options{}) }

// NewWithOptions returns a Directory over st.
func NewWithOptions(st store.Backend, o Options) *Directory {
	if o.Password == (PasswordParams{}) {
		o.Password = DefaultPasswordParams
	}
	d := &Directory{st: st, now: time.Now, pw: o.Password, groups: map[string][]string{}}
	d.lock = newLockout(o.Lockout, func() time.Time { return d.now() })
	d.gen.Store(1)
	return d
}

// Generation changes whenever anything in the directory changes. Callers
// that cache decisions about principals compare it to drop stale entries.
func (d *Directory) Generation() uint64 { return d.gen.Load() }

// update runs fn in a write transaction and bumps the generation after a
// successful commit.
func (d *Directory) update(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := d.st.Update(ctx, fn); err != nil {
		return err
	}
	d.gen.Add(1)
	return nil
}

func (d *Directory) view(ctx context.Context, fn func(tx store.Tx) error) error {
	return d.st.View(ctx, fn)
}

// Storage layout. tid and oid are canonical lower-case GUIDs.
func tenantKey(tid string) string         { return "dir/" + tid + "/tenant" }
func objKey(tid, kind, oid string) string { return "dir/" + tid + "/" + kind + "/" + oid }
func kindKey(tid, oid string) string      { return "dir/" + tid + "/kind/" + oid }
func domainKey(domain string) string      { return "dirx/domain/" + strings.ToLower(domain) }

// Object kinds, as stored and as Graph's @odata.type suffixes.
const (
	KindUser             = "user"
	KindGroup            = "group"
	KindApplication      = "application"
	KindServicePrincipal = "servicePrincipal"
)

// CreateTenant creates a tenant with a new GUID and one verified domain.
// A domain belongs to at most one tenant.
func (d *Directory) CreateTenant(ctx context.Context, displayName, domain string) (*Tenant, error) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" || strings.ContainsAny(domain, "/@: ") {
		return nil, invalidf("domain %q is not a DNS name", domain)
	}
	t := &Tenant{ID: uuid.NewString(), DisplayName: displayName, Domains: []string{domain}, Created: d.now().UTC()}
	err := d.update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(domainKey(domain)); err == nil {
			return fmt.Errorf("%w: domain %s", ErrExists, domain)
		}
		if err := tx.Put(domainKey(domain), []byte(t.ID)); err != nil {
			return err
		}
		return store.PutJSON(tx, tenantKey(t.ID), t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Tenant returns the tenant named by its id or by one of its verified
// domains.
func (d *Directory) Tenant(ctx context.Context, idOrDomain string) (*Tenant, error) {
	var t Tenant
	err := d.view(ctx, func(tx store.Tx) error {
		tid, err := resolveTenant(tx, idOrDomain)
		if err != nil {
			return err
		}
		return store.GetJSON(tx, tenantKey(tid), &t)
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// TenantOfDomain returns the id of the tenant that verified domain.
func (d *Directory) TenantOfDomain(ctx context.Context, domain string) (string, error) {
	var tid string
	err := d.view(ctx, func(tx store.Tx) error {
		b, err := tx.Get(domainKey(domain))
		if err != nil {
			return ErrNotFound
		}
		tid = string(b)
		return nil
	})
	return tid, err
}

func resolveTenant(tx store.Tx, idOrDomain string) (string, error) {
	if u, err := uuid.Parse(idOrDomain); err == nil {
		return u.String(), nil
	}
	if idOrDomain == "" || strings.ContainsAny(idOrDomain, "/ ") {
		return "", ErrNotFound
	}
	b, err := tx.Get(domainKey(idOrDomain))
	if err != nil {
		return "", ErrNotFound
	}
	return string(b), nil
}

// canonicalID returns the canonical form of a GUID, or ErrNotFound.
func canonicalID(id string) (string, error) {
	u, err := uuid.Parse(strings.TrimSpace(id))
	if err != nil || len(strings.TrimSpace(id)) != 36 {
		return "", ErrNotFound
	}
	return u.String(), nil
}

// ObjectKind returns the kind of the object oid in tenant tid.
func (d *Directory) ObjectKind(ctx context.Context, tid, oid string) (string, error) {
	var kind string
	err := d.view(ctx, func(tx store.Tx) error {
		var err error
		kind, err = objectKind(tx, tid, oid)
		return err
	})
	return kind, err
}

func objectKind(tx store.Tx, tid, oid string) (string, error) {
	oid, err := canonicalID(oid)
	if err != nil {
		return "", err
	}
	b, err := tx.Get(kindKey(tid, oid))
	if err != nil {
		return "", ErrNotFound
	}
	return string(b), nil
}

// putObject stores a new or changed object and its kind index.
func putObject(tx store.Tx, tid, kind, oid string, v any) error {
	if err := tx.Put(kindKey(tid, oid), []byte(kind)); err != nil {
		return err
	}
	return store.PutJSON(tx, objKey(tid, kind, oid), v)
}

func requireTenant(tx store.Tx, tid string) error {
	if _, err := tx.Get(tenantKey(tid)); err != nil {
		return fmt.Errorf("%w: tenant", ErrNotFound)
	}
	return nil
}
