package hsm

import (
	"errors"
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
func verKey(hsm, lname, version string) string { return verPrefix(hsm, lname) + version }

// materialAAD binds sealed material to its key and version (not to the HSM
// name, so that a full restore into another HSM of the same key hierarchy
// opens it).
func materialAAD(lname, version string) []byte { return []byte("key/" + lname + "/" + version) }

// loadKey reads a key record; deleted keys are "not found" unless wantDeleted.
func loadKey(tx store.Tx, hsm, name string, wantDeleted bool) (*keyRecord, error) {
	var k keyRecord
	if err := getJSON(tx, keyKey(hsm, strings.ToLower(name)), &k); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			if wantDeleted {
				return nil, notFound("KeyNotFound", "Deleted Key not found: %s", name)
			}
			return nil, keyNotFound(name)
		}
		return nil, err
	}
	if (k.Deleted != nil) != wantDeleted {
		if wantDeleted {
			return nil, notFound("KeyNotFound", "Deleted Key not found: %s", name)
		}
		return nil, keyNotFound(name)
	}
	return &k, nil
}

// loadVersion reads a version; "" means the latest.
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

func (h *HSM) attributes(v *versionRecord) wire.KeyAttributes {
	en, ex := v.Enabled, v.Exportable
	return wire.KeyAttributes{
		Enabled: &en, NotBefore: v.NotBefore, Expires: v.Expires, Created: v.Created, Updated: v.Updated,
		RecoverableDays: h.SoftDeleteDays, RecoveryLevel: h.recoveryLevel(), Exportable: &ex,
	}
}

func (h *HSM) bundle(k *keyRecord, v *versionRecord) *wire.KeyBundle {
	jwk := v.Public
	jwk.Kid = h.kid(k.Name, v.Version)
	jwk.KeyOps = append([]string(nil), v.KeyOps...)
	return &wire.KeyBundle{Key: jwk, Attributes: h.attributes(v), Tags: v.Tags, ReleasePolicy: v.ReleasePolicy}
}

func (h *HSM) deletedBundle(k *keyRecord, v *versionRecord) *wire.DeletedKeyBundle {
	return &wire.DeletedKeyBundle{
		KeyBundle: *h.bundle(k, v), RecoveryID: h.BaseURL + "/deletedkeys/" + k.Name,
		DeletedDate: k.Deleted.DeletedDate, ScheduledPurgeDate: k.Deleted.ScheduledPurgeDate,
	}
}
