package hsm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"

	"github.com/mhsm/mhsm/internal/keys"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// backupMagic starts every key backup blob; the rest is sealed by the HSM's
// key hierarchy root, so a blob restores only into an HSM that holds the
// same hierarchy (the same HSM, or one recovered from its security domain).
var backupMagic = []byte("mhsm-key-backup-v1:")

var backupAAD = []byte("mhsm/key-backup/v1")

// MaxBackupBytes bounds a backup blob accepted by RestoreKey.
const MaxBackupBytes = 4 << 20

type backupDoc struct {
	Key      keyRecord       `json:"key"`
	Versions []backupVersion `json:"versions"`
}

type backupVersion struct {
	Record   versionRecord `json:"record"`
	Material []byte        `json:"material"`
}

// BackupKey returns an opaque, encrypted and authenticated blob holding
// every version of a key.
func (s *Service) BackupKey(ctx context.Context, h *HSM, name string) (*wire.BackupKeyResult, error) {
	var doc backupDoc
	lname := strings.ToLower(name)
	err := s.st.View(ctx, func(tx store.Tx) error {
		k, err := loadKey(tx, h.Name, name, false)
		if err != nil {
			return err
		}
		doc.Key = *k
		kvs, err := tx.List(verPrefix(h.Name, lname), "", 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var v versionRecord
			if err := json.Unmarshal(kv.Value, &v); err != nil {
				return err
			}
			plain, err := h.dk.Open(v.Sealed, materialAAD(lname, v.Version))
			if err != nil {
				return err
			}
			v.Sealed = nil
			doc.Versions = append(doc.Versions, backupVersion{Record: v, Material: plain})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(&doc)
	for _, v := range doc.Versions {
		clear(v.Material)
	}
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	blob := append(append([]byte(nil), backupMagic...), h.dk.Seal(plain, backupAAD)...)
	return &wire.BackupKeyResult{Value: blob}, nil
}

// RestoreKey restores a blob made by BackupKey under the key's original
// name, which must be free (not even soft-deleted).
func (s *Service) RestoreKey(ctx context.Context, h *HSM, blob []byte) (*wire.KeyBundle, error) {
	if len(blob) > MaxBackupBytes || !bytes.HasPrefix(blob, backupMagic) {
		return nil, badRequest("the backup blob is malformed")
	}
	plain, err := h.dk.Open(blob[len(backupMagic):], backupAAD)
	if err != nil {
		return nil, badRequest("the backup blob was not made by an HSM of this security domain, or it was altered")
	}
	defer clear(plain)
	var doc backupDoc
	if err := json.Unmarshal(plain, &doc); err != nil || doc.check() != nil {
		for _, v := range doc.Versions {
			clear(v.Material)
		}
		return nil, badRequest("the backup blob is malformed")
	}
	lname := strings.ToLower(doc.Key.Name)
	k := doc.Key
	k.Deleted = nil
	k.Versions = len(doc.Versions)
	var out *wire.KeyBundle
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(keyKey(h.Name, lname)); !errors.Is(err, store.ErrNotFound) {
			if err != nil {
				return err
			}
			return conflict("Key %s already exists (or is soft-deleted); restore needs a free name.", doc.Key.Name)
		}
		if err := addKeyCount(tx, h.Name, 1); err != nil {
			return err
		}
		var latest *versionRecord
		for i := range doc.Versions {
			v := doc.Versions[i].Record
			v.Sealed = h.dk.Seal(doc.Versions[i].Material, materialAAD(lname, v.Version))
			if err := putJSON(tx, verKey(h.Name, lname, v.Version), &v); err != nil {
				return err
			}
			if v.Version == k.Latest {
				latest = &v
			}
		}
		if latest == nil {
			return badRequest("the backup blob is malformed")
		}
		if err := putJSON(tx, keyKey(h.Name, lname), &k); err != nil {
			return err
		}
		out = h.bundle(&k, latest)
		return nil
	})
	for _, v := range doc.Versions {
		clear(v.Material)
	}
	return out, err
}

// versionID is the syntax of a key version id (newVersion).
var versionID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// check validates a decrypted backup document before anything is
// stored: the seal proves who made the blob, not that every record in it
// is whole. The name is valid; there are 1 to MaxVersions versions with
// distinct well-formed ids, one of them the latest; and each version's
// material parses and matches the type, size and public key recorded
// for it (AES keys have no public part to compare), so a restore never
// stores a version that cannot be used.
func (d *backupDoc) check() error {
	if checkName(d.Key.Name) != nil || len(d.Versions) == 0 || len(d.Versions) > MaxVersions {
		return errMalformedBackup
	}
	seen := map[string]bool{}
	for _, v := range d.Versions {
		id := v.Record.Version
		if !versionID.MatchString(id) || seen[id] {
			return errMalformedBackup
		}
		seen[id] = true
		m, err := keys.Unmarshal(v.Material)
		if err != nil {
			return errMalformedBackup
		}
		pub, size := m.PublicJWK(), m.Size()
		m.Zero()
		rec := v.Record.Public
		if pub.Kty != rec.Kty || size != v.Record.Size || pub.Crv != rec.Crv ||
			!bytes.Equal(pub.N, rec.N) || !bytes.Equal(pub.E, rec.E) || !bytes.Equal(pub.X, rec.X) || !bytes.Equal(pub.Y, rec.Y) {
			return errMalformedBackup
		}
	}
	if !seen[d.Key.Latest] {
		return errMalformedBackup
	}
	return nil
}

var errMalformedBackup = errors.New("hsm: malformed backup document")
