package hsm

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Dev mode's state export and seed (mhsm dev export, mhsm server --seed)
// at the level of one HSM's keys. Deleted keys are not exported.

// KeyState is one live key as exported: its versions oldest first.
type KeyState struct {
	Name           string                  `json:"name"`
	RotationPolicy *wire.KeyRotationPolicy `json:"rotationPolicy,omitempty"`
	Versions       []VersionState          `json:"versions"`
}

// VersionState is one key version: its id, attributes and public key, and
// its private key only in an export with secrets.
type VersionState struct {
	Version       string                 `json:"version"`
	Public        keys.JSONWebKey        `json:"public"`
	Size          int                    `json:"size,omitempty"`
	KeyOps        []string               `json:"keyOps"`
	Enabled       bool                   `json:"enabled"`
	NotBefore     *int64                 `json:"nbf,omitempty"`
	Expires       *int64                 `json:"exp,omitempty"`
	Created       int64                  `json:"created"`
	Updated       int64                  `json:"updated"`
	Exportable    bool                   `json:"exportable,omitempty"`
	Tags          map[string]string      `json:"tags,omitempty"`
	ReleasePolicy *wire.KeyReleasePolicy `json:"releasePolicy,omitempty"`
	// Private is the full private JWK (secrets only).
	Private *keys.JSONWebKey `json:"privateKey,omitempty"`
}

// ExportKeys returns h's live keys sorted by name; withMaterial adds each
// version's private key.
func (s *Service) ExportKeys(ctx context.Context, h *HSM, withMaterial bool) ([]KeyState, error) {
	var out []KeyState
	var next string
	err := s.scanKeys(ctx, h, "", 1<<30, false, func(tx store.Tx, k *keyRecord) error {
		lname := strings.ToLower(k.Name)
		kvs, err := tx.List(verPrefix(h.Name, lname), "", 0)
		if err != nil {
			return err
		}
		ks := KeyState{Name: k.Name, RotationPolicy: k.RotationPolicy}
		for _, kv := range kvs {
			var v versionRecord
			if err := getJSON(tx, kv.Key, &v); err != nil {
				return err
			}
			vs := VersionState{Version: v.Version, Public: v.Public, Size: v.Size, KeyOps: v.KeyOps, Enabled: v.Enabled,
				NotBefore: v.NotBefore, Expires: v.Expires, Created: v.Created, Updated: v.Updated, Exportable: v.Exportable,
				Tags: v.Tags, ReleasePolicy: v.ReleasePolicy}
			if withMaterial {
				plain, err := h.dk.Open(v.Sealed, materialAAD(lname, v.Version))
				if err != nil {
					return err
				}
				m, err := keys.Unmarshal(plain)
				clear(plain)
				if err != nil {
					return err
				}
				j := m.PrivateJWK()
				m.Zero()
				vs.Private = &j
			}
			ks.Versions = append(ks.Versions, vs)
		}
		// Oldest first; the version id breaks ties within a second.
		sort.Slice(ks.Versions, func(i, j int) bool {
			a, b := ks.Versions[i], ks.Versions[j]
			if a.Created != b.Created {
				return a.Created < b.Created
			}
			return a.Version < b.Version
		})
		if len(ks.Versions) > 0 && ks.Versions[len(ks.Versions)-1].Version != k.Latest {
			// Keep the stored latest last, whatever the timestamps say.
			for i, v := range ks.Versions {
				if v.Version == k.Latest {
					ks.Versions = append(append(ks.Versions[:i:i], ks.Versions[i+1:]...), v)
					break
				}
			}
		}
		out = append(out, ks)
		return nil
	}, &next)
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, err
}

// ImportKeys writes ks into h, which must not hold a key of the same
// name. A version with a private key gets that key; one without gets fresh
// material of the same type and size (its public key changes). Version
// ids, attributes and timestamps are kept; the last version is the latest.
func (s *Service) ImportKeys(ctx context.Context, h *HSM, ks []KeyState) error {
	for _, k := range ks {
		if err := checkName(k.Name); err != nil {
			return err
		}
		if len(k.Versions) == 0 {
			return badRequest("key %s has no versions", k.Name)
		}
		lname := strings.ToLower(k.Name)
		recs := make([]*versionRecord, 0, len(k.Versions))
		for _, vs := range k.Versions {
			v, err := s.importVersion(h, lname, vs)
			if err != nil {
				return err
			}
			recs = append(recs, v)
		}
		err := s.st.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.Get(keyKey(h.Name, lname)); err == nil {
				return conflict("key %s exists already", k.Name)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := addKeyCount(tx, h.Name, 1); err != nil {
				return err
			}
			for _, v := range recs {
				if err := putJSON(tx, verKey(h.Name, lname, v.Version), v); err != nil {
					return err
				}
			}
			return putJSON(tx, keyKey(h.Name, lname), &keyRecord{Name: k.Name, Latest: recs[len(recs)-1].Version,
				Versions: len(recs), RotationPolicy: k.RotationPolicy})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// importVersion seals vs's material (or fresh material) as a version
// record of key lname.
func (s *Service) importVersion(h *HSM, lname string, vs VersionState) (*versionRecord, error) {
	if len(vs.Version) != 32 || strings.Trim(strings.ToLower(vs.Version), "0123456789abcdef") != "" {
		return nil, badRequest("version %q of key %s is not 32 hex digits", vs.Version, lname)
	}
	var m *keys.Material
	var err error
	if vs.Private != nil {
		m, err = keys.FromJWK(vs.Private)
	} else {
		m, err = keys.Generate(vs.Public.Kty, vs.Size, vs.Public.Crv)
	}
	if err != nil {
		return nil, invalidKey(err)
	}
	defer m.Zero()
	if err := checkOps(m.Kty(), vs.KeyOps); err != nil {
		return nil, err
	}
	plain, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	version := strings.ToLower(vs.Version)
	v := &versionRecord{Version: version, Public: m.PublicJWK(), Size: m.Size(), KeyOps: vs.KeyOps, Enabled: vs.Enabled,
		NotBefore: vs.NotBefore, Expires: vs.Expires, Created: vs.Created, Updated: vs.Updated, Exportable: vs.Exportable,
		Tags: vs.Tags, ReleasePolicy: vs.ReleasePolicy, Sealed: h.dk.Seal(plain, materialAAD(lname, version))}
	clear(plain)
	v.Public.Kty = m.Kty()
	return v, nil
}
