package hsm

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"

	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// keyRecord is a key (all versions) as stored under hsm/<hsm>/key/<lname>.
type keyRecord struct {
	Name           string                  `json:"name"`
	Latest         string                  `json:"latest"`
	Versions       int                     `json:"versions"`
	Deleted        *deletion               `json:"deleted,omitempty"`
	RotationPolicy *wire.KeyRotationPolicy `json:"rotationPolicy,omitempty"`
}

type deletion struct {
	DeletedDate        int64 `json:"deletedDate"`
	ScheduledPurgeDate int64 `json:"scheduledPurgeDate"`
}

// versionRecord is one key version as stored under
// hsm/<hsm>/ver/<lname>/<version>. Material is sealed by the HSM's key
// hierarchy root with additional data naming the key and version.
type versionRecord struct {
	Version       string                 `json:"version"`
	Public        keys.JSONWebKey        `json:"public"`
	Size          int                    `json:"size"`
	KeyOps        []string               `json:"keyOps"`
	Enabled       bool                   `json:"enabled"`
	NotBefore     *int64                 `json:"nbf,omitempty"`
	Expires       *int64                 `json:"exp,omitempty"`
	Created       int64                  `json:"created"`
	Updated       int64                  `json:"updated"`
	Exportable    bool                   `json:"exportable,omitempty"`
	Tags          map[string]string      `json:"tags,omitempty"`
	ReleasePolicy *wire.KeyReleasePolicy `json:"releasePolicy,omitempty"`
	Sealed        []byte                 `json:"sealed"`
}

func keyKey(hsm, lname string) string          { return "hsm/" + hsm + "/key/" + lname }
func verPrefix(hsm, lname string) string       { return "hsm/" + hsm + "/ver/" + lname + "/" }
func verKey(hsm, lname, version string) string { return "hsm/" + hsm + "/ver/" + lname + "/" + version }

// materialAAD binds sealed material to its key and version (not to the HSM
// name, so that a full restore into another HSM of the same key hierarchy
// opens it).
func materialAAD(lname, version string) []byte { return []byte("key/" + lname + "/" + version) }

// loadKey reads a key record; deleted keys are "not found" unless wantDeleted.
// It reads the store through tx, never the record cache: write transactions
// modify what it returns and must start from the stored record.
func loadKey(tx store.Tx, hsm, name string, wantDeleted bool) (*keyRecord, error) {
	var k keyRecord
	if err := getJSON(tx, keyKey(hsm, strings.ToLower(name)), &k); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, keyStateErr(name, wantDeleted)
		}
		return nil, err
	}
	if (k.Deleted != nil) != wantDeleted {
		return nil, keyStateErr(name, wantDeleted)
	}
	return &k, nil
}

// keyStateErr is the "not found" of a key that is missing or not in the
// wanted deletion state.
func keyStateErr(name string, wantDeleted bool) error {
	if wantDeleted {
		return notFound("KeyNotFound", "Deleted Key not found: %s", name)
	}
	return keyNotFound(name)
}

// loadVersion reads a version; "" means the latest. Like loadKey, it reads
// the store through tx, never the record cache.
func loadVersion(tx store.Tx, hsm string, k *keyRecord, version string) (*versionRecord, error) {
	if version == "" {
		version = k.Latest
	}
	var v versionRecord
	if err := getJSON(tx, verKey(hsm, strings.ToLower(k.Name), strings.ToLower(version)), &v); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, keyNotFound(k.Name + "/" + version)
		}
		return nil, err
	}
	return &v, nil
}

// readKey returns the key record of name, from the record cache or else
// from the store; deleted keys are "not found" unless wantDeleted (checked
// on every call). The record is shared: do not modify it. It opens its
// own read transaction, so it is for read-only use cases, never inside a
// transaction.
func (s *Service) readKey(ctx context.Context, h *HSM, name string, wantDeleted bool) (*keyRecord, error) {
	k, _, _, err := s.readRecords(ctx, h, name, "", wantDeleted, false)
	return k, err
}

// readKeyVersion is readKey and the record of a version of the key ("" =
// the latest). Neither record may be modified; the version's Sealed is nil.
func (s *Service) readKeyVersion(ctx context.Context, h *HSM, name, version string, wantDeleted bool) (*keyRecord, *versionRecord, error) {
	k, v, _, err := s.readRecords(ctx, h, name, version, wantDeleted, true)
	return k, v, err
}

// readRecords serves readKey and readKeyVersion: from the record cache when
// it holds what is asked for, else from the store in one read transaction,
// whose records it then caches. sealed is the version's sealed material
// when it was read from the store (nil on a cache hit); the cached version
// record never holds it.
func (s *Service) readRecords(ctx context.Context, h *HSM, name, version string, wantDeleted, withVersion bool) (k *keyRecord, v *versionRecord, sealed []byte, err error) {
	lname := strings.ToLower(name)
	kk := keyKey(h.Name, lname)
	if ck, _ := s.records.get(kk).(*keyRecord); ck != nil {
		if (ck.Deleted != nil) != wantDeleted {
			return nil, nil, nil, keyStateErr(name, wantDeleted)
		}
		if !withVersion {
			return ck, nil, nil, nil
		}
		want := version
		if want == "" {
			want = ck.Latest
		}
		if cv, _ := s.records.get(verKey(h.Name, lname, strings.ToLower(want))).(*versionRecord); cv != nil {
			return ck, cv, nil, nil
		}
		// Partial hit: read both records from one store snapshot below.
	}
	seq := s.records.begin() // before the read: see recordCache.add
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if k, err = loadKey(tx, h.Name, name, wantDeleted); err != nil || !withVersion {
			return err
		}
		v, err = loadVersion(tx, h.Name, k, version)
		return err
	})
	if err != nil {
		return nil, nil, nil, err
	}
	s.records.add(seq, kk, k)
	if v != nil {
		sealed, v.Sealed = v.Sealed, nil
		s.records.add(seq, verKey(h.Name, lname, v.Version), v)
	}
	return k, v, sealed, nil
}

// readSealed reads the sealed material of a version from the store, for a
// material-cache miss on a version whose record came from the record cache.
func (s *Service) readSealed(ctx context.Context, h *HSM, name, version string) ([]byte, error) {
	var rec struct {
		Sealed []byte `json:"sealed"`
	}
	err := s.st.View(ctx, func(tx store.Tx) error {
		return getJSON(tx, verKey(h.Name, strings.ToLower(name), version), &rec)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, keyNotFound(name + "/" + version)
	}
	return rec.Sealed, err
}

func (h *HSM) recoveryLevel() string {
	lvl := "Recoverable"
	if h.SoftDeleteDays < 90 {
		lvl = "CustomizedRecoverable"
	}
	if !h.PurgeProtection {
		lvl += "+Purgeable"
	}
	return lvl
}

func (h *HSM) kid(name, version string) string {
	if version == "" {
		return h.BaseURL + "/keys/" + name
	}
	return h.BaseURL + "/keys/" + name + "/" + version
}

// attributes returns v's attributes. Like bundle, it copies: v may be a
// shared cached record.
func (h *HSM) attributes(v *versionRecord) wire.KeyAttributes {
	en, ex := v.Enabled, v.Exportable
	return wire.KeyAttributes{
		Enabled: &en, NotBefore: copyPtr(v.NotBefore), Expires: copyPtr(v.Expires), Created: v.Created, Updated: v.Updated,
		RecoverableDays: h.SoftDeleteDays, RecoveryLevel: h.recoveryLevel(), Exportable: &ex,
	}
}

// bundle returns version v of key k as the API shows it. k and v may be
// shared cached records: the bundle shares no slice, map or pointer with
// them, so callers may modify it.
func (h *HSM) bundle(k *keyRecord, v *versionRecord) *wire.KeyBundle {
	jwk := v.Public
	jwk.Kid = h.kid(k.Name, v.Version)
	jwk.KeyOps = append([]string(nil), v.KeyOps...)
	// Public holds public parts only (keys.Material.PublicJWK: kty, crv, n, e, x, y).
	jwk.N, jwk.E, jwk.X, jwk.Y = bytes.Clone(jwk.N), bytes.Clone(jwk.E), bytes.Clone(jwk.X), bytes.Clone(jwk.Y)
	var rp *wire.KeyReleasePolicy
	if v.ReleasePolicy != nil {
		c := *v.ReleasePolicy
		c.Immutable, c.Data = copyPtr(c.Immutable), bytes.Clone(c.Data)
		rp = &c
	}
	return &wire.KeyBundle{Key: jwk, Attributes: h.attributes(v), Tags: maps.Clone(v.Tags), ReleasePolicy: rp}
}

// copyPtr returns a pointer to a copy of *p, or nil.
func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func (h *HSM) deletedBundle(k *keyRecord, v *versionRecord) *wire.DeletedKeyBundle {
	return &wire.DeletedKeyBundle{
		KeyBundle: *h.bundle(k, v), RecoveryID: h.BaseURL + "/deletedkeys/" + k.Name,
		DeletedDate: k.Deleted.DeletedDate, ScheduledPurgeDate: k.Deleted.ScheduledPurgeDate,
	}
}
