package hsm

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/throttle"
	"github.com/mhsm/mhsm/internal/wire"
)

// MaxVersions is the number of versions a key may have; MaxKeys the
// number of keys (soft-deleted ones included) an HSM may hold.
const (
	MaxVersions = 100
	MaxKeys     = 5000
)

func keyCountKey(hsm string) string { return "hsm/" + hsm + "/meta/keycount" }

// addKeyCount adjusts the HSM's key count, refusing to go past MaxKeys.
func addKeyCount(tx store.Tx, hsm string, delta int) error {
	n := 0
	if b, err := tx.Get(keyCountKey(hsm)); err == nil {
		n, _ = strconv.Atoi(string(b))
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	n += delta
	if delta > 0 && n > MaxKeys {
		return badRequest("This HSM already holds the maximum of %d keys (soft-deleted keys count until purged).", MaxKeys)
	}
	return tx.Put(keyCountKey(hsm), []byte(strconv.Itoa(max(n, 0))))
}

var opsByKty = map[string][]string{
	keys.KtyRSA: {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import"},
	keys.KtyEC:  {"sign", "verify"},
	keys.KtyOct: {"encrypt", "decrypt", "wrapKey", "unwrapKey"},
}

// CreateKey generates a new key, or a new version of an existing key.
func (s *Service) CreateKey(ctx context.Context, h *HSM, name string, p *wire.KeyCreateParameters) (*wire.KeyBundle, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	size, crv := 0, p.Curve
	if p.KeySize != nil {
		size = *p.KeySize
	}
	if p.PublicExponent != nil && *p.PublicExponent != 65537 {
		return nil, badRequest("public_exponent %d is not supported; only 65537 is", *p.PublicExponent)
	}
	m, err := keys.Generate(p.Kty, size, crv)
	if err != nil {
		return nil, invalidKey(err)
	}
	defer m.Zero()
	throttle.Add(ctx, throttle.CryptoCost(m.Kty(), m.Size(), false, true))
	return s.storeNewVersion(ctx, h, name, m, newVersionParams{keyOps: p.KeyOps, attrs: p.Attributes, tags: p.Tags, release: p.ReleasePolicy})
}

// ImportKey imports a private JWK as a new key or version.
func (s *Service) ImportKey(ctx context.Context, h *HSM, name string, p *wire.KeyImportParameters) (*wire.KeyBundle, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if p.Key == nil {
		return nil, badRequest("key is required")
	}
	var m *keys.Material
	var err error
	if len(p.Key.KeyHSM) > 0 {
		m, err = s.unwrapBYOK(ctx, h, p.Key)
	} else if m, err = keys.FromJWK(p.Key); err != nil {
		err = invalidKey(err)
	}
	if err != nil {
		return nil, err
	}
	defer m.Zero()
	return s.storeNewVersion(ctx, h, name, m, newVersionParams{keyOps: p.Key.KeyOps, attrs: p.Attributes, tags: p.Tags, release: p.ReleasePolicy})
}

type newVersionParams struct {
	keyOps  []string
	attrs   *wire.KeyAttributes
	tags    map[string]string
	release *wire.KeyReleasePolicy
	// inherit copies key_ops, tags and release policy from the latest
	// version when the caller did not set them (rotation).
	inherit bool
}

func (s *Service) storeNewVersion(ctx context.Context, h *HSM, name string, m *keys.Material, p newVersionParams) (*wire.KeyBundle, error) {
	kty := m.Kty()
	ops := p.keyOps
	if len(ops) == 0 && !p.inherit {
		ops = keys.DefaultKeyOps(kty)
	}
	if err := checkOps(kty, ops); err != nil {
		return nil, err
	}
	if err := checkTags(p.tags); err != nil {
		return nil, err
	}
	now := s.now().Unix()
	v := &versionRecord{Version: newVersion(), Public: m.PublicJWK(), Size: m.Size(), KeyOps: ops, Enabled: true, Created: now, Updated: now, Tags: p.tags}
	v.Public.Kty = kty
	if a := p.attrs; a != nil {
		if a.Enabled != nil {
			v.Enabled = *a.Enabled
		}
		v.NotBefore, v.Expires = a.NotBefore, a.Expires
		if a.Exportable != nil {
			v.Exportable = *a.Exportable
		}
	}
	if err := checkRelease(v.Exportable, p.release); err != nil {
		return nil, err
	}
	v.ReleasePolicy = p.release
	plain, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	lname := strings.ToLower(name)
	v.Sealed = h.dk.Seal(plain, materialAAD(lname, v.Version))
	clear(plain)

	var out *wire.KeyBundle
	err = s.st.Update(ctx, func(tx store.Tx) error {
		k, err := loadKey(tx, h.Name, name, false)
		var nf *Error
		switch {
		case err == nil:
		case errors.As(err, &nf) && nf.Kind == KindNotFound:
			if _, derr := loadKey(tx, h.Name, name, true); derr == nil {
				return conflict("Key %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.", name)
			}
			if err := addKeyCount(tx, h.Name, 1); err != nil {
				return err
			}
			k = &keyRecord{Name: name}
		default:
			return err
		}
		if k.Versions >= MaxVersions {
			return badRequest("key %s already has the maximum of %d versions", name, MaxVersions)
		}
		if p.inherit && k.Latest != "" {
			prev, err := loadVersion(tx, h.Name, k, "")
			if err != nil {
				return err
			}
			if len(v.KeyOps) == 0 {
				v.KeyOps = prev.KeyOps
			}
			if v.Tags == nil {
				v.Tags = prev.Tags
			}
			if v.ReleasePolicy == nil {
				v.ReleasePolicy, v.Exportable = prev.ReleasePolicy, prev.Exportable
			}
		}
		k.Latest = v.Version
		k.Versions++
		if err := putJSON(tx, verKey(h.Name, lname, v.Version), v); err != nil {
			return err
		}
		if err := putJSON(tx, keyKey(h.Name, lname), k); err != nil {
			return err
		}
		out = h.bundle(k, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetKey returns a version of a key ("" = latest).
func (s *Service) GetKey(ctx context.Context, h *HSM, name, version string) (*wire.KeyBundle, error) {
	k, v, err := s.readKeyVersion(ctx, h, name, version, false)
	if err != nil {
		return nil, err
	}
	return h.bundle(k, v), nil
}

// UpdateKey changes attributes, tags, key_ops or release policy of a version.
func (s *Service) UpdateKey(ctx context.Context, h *HSM, name, version string, p *wire.KeyUpdateParameters) (*wire.KeyBundle, error) {
	if err := checkTags(p.Tags); err != nil {
		return nil, err
	}
	var out *wire.KeyBundle
	err := s.st.Update(ctx, func(tx store.Tx) error {
		k, err := loadKey(tx, h.Name, name, false)
		if err != nil {
			return err
		}
		v, err := loadVersion(tx, h.Name, k, version)
		if err != nil {
			return err
		}
		if p.KeyOps != nil {
			if err := checkOps(v.Public.Kty, p.KeyOps); err != nil {
				return err
			}
			v.KeyOps = p.KeyOps
		}
		if a := p.Attributes; a != nil {
			if a.Enabled != nil {
				v.Enabled = *a.Enabled
			}
			if a.NotBefore != nil {
				v.NotBefore = a.NotBefore
			}
			if a.Expires != nil {
				v.Expires = a.Expires
			}
			if a.Exportable != nil && *a.Exportable != v.Exportable {
				return badRequest("exportable cannot be changed after a key is created")
			}
		}
		if p.Tags != nil {
			v.Tags = p.Tags
		}
		if p.ReleasePolicy != nil {
			if v.ReleasePolicy != nil && v.ReleasePolicy.Immutable != nil && *v.ReleasePolicy.Immutable {
				return badRequest("the release policy of this key is immutable")
			}
			if err := checkRelease(v.Exportable, p.ReleasePolicy); err != nil {
				return err
			}
			v.ReleasePolicy = p.ReleasePolicy
		}
		v.Updated = s.now().Unix()
		if err := putJSON(tx, verKey(h.Name, strings.ToLower(k.Name), v.Version), v); err != nil {
			return err
		}
		out = h.bundle(k, v)
		return nil
	})
	return out, err
}

// Page is a page of a listing and the token of the next page ("" = last).
type Page[T any] struct {
	Items []T
	Next  string
}

// ListKeys lists non-deleted keys (latest version attributes), after the
// skip token, at most max.
func (s *Service) ListKeys(ctx context.Context, h *HSM, skip string, max int) (Page[wire.KeyItem], error) {
	var page Page[wire.KeyItem]
	err := s.scanKeys(ctx, h, skip, max, false, func(tx store.Tx, k *keyRecord) error {
		v, err := loadVersion(tx, h.Name, k, "")
		if err != nil {
			return err
		}
		page.Items = append(page.Items, wire.KeyItem{Kid: h.kid(k.Name, ""), Attributes: h.attributes(v), Tags: v.Tags})
		return nil
	}, &page.Next)
	return page, err
}

// scanKeys walks key records in name order, calling fn for up to max keys
// whose deletion state matches deleted; next is set when more remain.
func (s *Service) scanKeys(ctx context.Context, h *HSM, skip string, max int, deleted bool, fn func(store.Tx, *keyRecord) error, next *string) error {
	prefix := "hsm/" + h.Name + "/key/"
	after := ""
	if skip != "" {
		after = prefix + strings.ToLower(skip)
	}
	return s.st.View(ctx, func(tx store.Tx) error {
		n, cursor, last := 0, after, ""
		for {
			kvs, err := tx.List(prefix, cursor, 256)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				var k keyRecord
				if err := json.Unmarshal(kv.Value, &k); err != nil {
					return err
				}
				if (k.Deleted != nil) != deleted {
					continue
				}
				if n == max {
					*next = strings.TrimPrefix(last, prefix)
					return nil
				}
				if err := fn(tx, &k); err != nil {
					return err
				}
				n++
				last = kv.Key
			}
			if len(kvs) < 256 {
				return nil
			}
			cursor = kvs[len(kvs)-1].Key
		}
	})
}

// ListVersions lists the versions of a key, after the skip token.
func (s *Service) ListVersions(ctx context.Context, h *HSM, name, skip string, max int) (Page[wire.KeyItem], error) {
	var page Page[wire.KeyItem]
	lname := strings.ToLower(name)
	err := s.st.View(ctx, func(tx store.Tx) error {
		k, err := loadKey(tx, h.Name, name, false)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Kind == KindNotFound {
				return nil // the service answers 200 with an empty list
			}
			return err
		}
		after := ""
		if skip != "" {
			after = verKey(h.Name, lname, strings.ToLower(skip))
		}
		kvs, err := tx.List(verPrefix(h.Name, lname), after, max+1)
		if err != nil {
			return err
		}
		for i, kv := range kvs {
			if i == max {
				page.Next = strings.TrimPrefix(kvs[i-1].Key, verPrefix(h.Name, lname))
				break
			}
			var v versionRecord
			if err := json.Unmarshal(kv.Value, &v); err != nil {
				return err
			}
			page.Items = append(page.Items, wire.KeyItem{Kid: h.kid(k.Name, v.Version), Attributes: h.attributes(&v), Tags: v.Tags})
		}
		return nil
	})
	return page, err
}

func checkName(name string) error {
	if !rbac.KeyNamePattern.MatchString(name) {
		return badRequest("key name %q is invalid: use 1 to 127 letters, digits and dashes", name)
	}
	return nil
}

func checkOps(kty string, ops []string) error {
	allowed := opsByKty[kty]
	for _, op := range ops {
		if !slices.Contains(allowed, op) {
			return badRequest("key operation %q is not valid for a %s key", op, kty)
		}
	}
	return nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > 15 {
		return badRequest("a key may have at most 15 tags")
	}
	for k, v := range tags {
		if len(k) == 0 || len(k) > 256 || len(v) > 256 {
			return badRequest("tag names must be 1 to 256 characters and values at most 256")
		}
	}
	return nil
}

func checkRelease(exportable bool, p *wire.KeyReleasePolicy) error {
	if p == nil {
		if exportable {
			return badRequest("an exportable key requires a release policy")
		}
		return nil
	}
	var doc struct {
		Version string `json:"version"`
		AnyOf   []any  `json:"anyOf"`
	}
	if err := json.Unmarshal(p.Data, &doc); err != nil {
		return badRequest("Key Release Policy: data is not valid JSON")
	}
	if doc.Version == "" {
		return badRequest("Key Release Policy: missing 'version' property")
	}
	if len(doc.AnyOf) == 0 {
		return badRequest("Key Release Policy: 'anyOf' must list at least one authority")
	}
	return nil
}

func invalidKey(err error) error {
	if errors.Is(err, keys.ErrInvalidKeyParams) || errors.Is(err, keys.ErrBadRequest) {
		return badRequest("%s", err.Error())
	}
	return err
}
