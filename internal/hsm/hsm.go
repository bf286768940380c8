// Package hsm holds the data-plane use cases of one Managed HSM: keys and
// their versions, crypto operations, soft delete, backup and restore,
// rotation, and the local RBAC state (role assignments) the decision point
// compiles. It knows nothing of HTTP. Read hsm.go (the registry of HSMs),
// then keys.go; for local RBAC, roles.go, policystate.go (how a role change
// is written, compiled and installed as one ordered step) and sod.go (the
// separation-of-duties guard).
package hsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mhsm/mhsm/internal/backup"
	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
)

// Record is an HSM as stored.
type Record struct {
	Name       string `json:"name"`
	TenantID   string `json:"tenantId"`
	WrappedKey []byte `json:"wrappedKey"` // key hierarchy root, wrapped by the root key
	Activated  bool   `json:"activated"`
	// Recovery marks an HSM created to receive a security-domain upload: until
	// one succeeds it refuses downloads (securitydomain.go).
	Recovery        bool      `json:"recovery,omitempty"`
	SoftDeleteDays  int       `json:"softDeleteDays"`
	PurgeProtection bool      `json:"purgeProtection"`
	Created         time.Time `json:"created"`
}

// HSM is a live HSM: its record, its key hierarchy root, and its compiled
// RBAC policy, swapped atomically on every role change (policystate.go).
type HSM struct {
	Record
	BaseURL string // https://<name>.managedhsm.<domain>[:port]

	dk  *barrier.DataKey
	pol *policyState // shared by every *HSM value of this HSM
}

// Policy returns the HSM's current compiled RBAC policy.
func (h *HSM) Policy() *rbac.Policy { return h.pol.cur.Load() }

// Service serves every HSM kept in the store.
type Service struct {
	st      store.Backend
	ring    *barrier.Keyring
	baseURL func(name string) string
	now     func() time.Time
	cache   *materialCache
	records *recordCache // decoded key and version records (recordcache.go)

	principals PrincipalResolver
	groups     GroupResolver
	attest     Attestation
	sdRedown   bool           // Options.AllowSecurityDomainRedownload
	backups    backup.Storage // full backup destinations (fullbackup.go)

	jobsMu     sync.Mutex        // guards activeJobs
	activeJobs map[string]string // HSM name -> its running backup/restore job

	mu   sync.RWMutex
	hsms map[string]*HSM
}

// Options configures a Service.
type Options struct {
	// BaseURL maps an HSM name to its data-plane base URL (no trailing slash).
	BaseURL func(name string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheSize bounds the decrypted key versions kept in memory; 0 means
	// 4096. The decoded key and version records cached beside them
	// (recordcache.go) are bounded by twice that: a key record and a version
	// record per key version.
	CacheSize int
	// Principals validates role assignment principals; nil accepts any GUID.
	Principals PrincipalResolver
	// Groups expands group membership for the separation-of-duties guard
	// (sod.go); nil judges every assignee by its own assignments only.
	Groups GroupResolver
	// AllowSecurityDomainRedownload allows security domain downloads on an
	// activated HSM; off, only the download that activates it is served
	// (config.Server.AllowSecurityDomainRedownload).
	AllowSecurityDomainRedownload bool
	// Attestation verifies key release targets; nil disables key release.
	Attestation Attestation
	// BackupStorage resolves the blob containers of full backups and
	// restores (fullbackup.go); nil refuses them.
	BackupStorage backup.Storage
}

// NewService loads every HSM from st.
func NewService(ctx context.Context, st store.Backend, ring *barrier.Keyring, o Options) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheSize == 0 {
		o.CacheSize = 4096
	}
	s := &Service{ring: ring, baseURL: o.BaseURL, now: o.Now, cache: newMaterialCache(o.CacheSize), records: newRecordCache(2 * o.CacheSize),
		hsms: map[string]*HSM{}, principals: o.Principals, groups: o.Groups, attest: o.Attestation, sdRedown: o.AllowSecurityDomainRedownload,
		backups: o.BackupStorage}
	// Every write of the Service goes through this wrapper, which keeps the
	// record cache coherent (recordcache.go).
	s.st = invalidatingStore{Backend: st, records: s.records}
	var recs []store.KV
	err := st.View(ctx, func(tx store.Tx) error {
		var err error
		recs, err = tx.List("hsmrec/", "", 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, kv := range recs {
		var r Record
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("hsm: decode %s: %w", kv.Key, err)
		}
		h, err := s.open(r)
		if err != nil {
			return nil, err
		}
		if err := s.reloadPolicy(ctx, h); err != nil {
			return nil, err
		}
		s.hsms[r.Name] = h
	}
	if err := s.recoverJobs(ctx); err != nil { // fullbackup.go
		return nil, err
	}
	return s, nil
}

func (s *Service) open(r Record) (*HSM, error) {
	dk, err := s.ring.OpenDataKey(r.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("hsm %s: open key hierarchy: %w", r.Name, err)
	}
	return &HSM{Record: r, BaseURL: s.baseURL(r.Name), dk: dk, pol: newPolicyState()}, nil
}

// Get returns the live HSM name (lower case), or false.
func (s *Service) Get(name string) (*HSM, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.hsms[strings.ToLower(name)]
	return h, ok
}

// List returns the names of every HSM, sorted.
func (s *Service) List() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.hsms))
	for n := range s.hsms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CreateParams describe a new HSM.
type CreateParams struct {
	Name            string
	TenantID        string
	Admins          []string // object ids made Administrator at "/"
	SoftDeleteDays  int      // 7..90; 0 means 90
	PurgeProtection bool
	Activated       bool
	// Recovery creates the HSM not activated and waiting for a security
	// domain upload (ARM createMode "recover" style provisioning state
	// SecurityDomainRestore): downloads are refused until then.
	Recovery bool
}

// ErrExists is returned by Create for a name in use.
var ErrExists = errors.New("hsm: name in use")

// Create makes a new HSM with a fresh key hierarchy and its initial
// administrators.
func (s *Service) Create(ctx context.Context, p CreateParams) (*HSM, error) {
	name := strings.ToLower(p.Name)
	if p.SoftDeleteDays == 0 {
		p.SoftDeleteDays = 90
	}
	if p.SoftDeleteDays < 7 || p.SoftDeleteDays > 90 {
		return nil, badRequest("softDeleteRetentionInDays must be between 7 and 90")
	}
	if p.Recovery && p.Activated {
		return nil, badRequest("an HSM created for security domain recovery cannot be activated at creation")
	}
	wrapped, _, err := s.ring.NewDataKey()
	if err != nil {
		return nil, err
	}
	r := Record{Name: name, TenantID: strings.ToLower(p.TenantID), WrappedKey: wrapped, Activated: p.Activated, Recovery: p.Recovery,
		SoftDeleteDays: p.SoftDeleteDays, PurgeProtection: p.PurgeProtection, Created: s.now().UTC()}
	h, err := s.open(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hsms[name]; ok {
		return nil, ErrExists
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := claimName(tx, name); err != nil { // lifecycle.go
			return err
		}
		if err := putJSON(tx, "hsmrec/"+name, &r); err != nil {
			return err
		}
		for _, oid := range p.Admins {
			a := rbac.RoleAssignment{ID: newGUID(), Scope: "/", RoleDefinitionID: rbac.RoleAdministrator, PrincipalID: strings.ToLower(oid)}
			if err := putJSON(tx, raKey(name, a.ID), &a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.reloadPolicy(ctx, h); err != nil {
		return nil, err
	}
	s.hsms[name] = h
	return h, nil
}

// The JSON record helpers of package store (one not-found contract:
// store.ErrNotFound), under the short names this package's code uses.
var (
	getJSON = store.GetJSON
	putJSON = store.PutJSON
)
