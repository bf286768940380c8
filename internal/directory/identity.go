package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/store"
)

// ManagedIdentity is a user-assigned managed identity: a named identity a
// workload runs as. Its service principal (type ManagedIdentity) is what
// role assignments and group memberships name (PrincipalID); ClientID is
// its client id. A workload proves it runs as the identity with the
// identity header, a 256-bit secret bound to this one identity, of which
// only a SHA-256 digest is stored.
type ManagedIdentity struct {
	Name         string    `json:"name"`
	TenantID     string    `json:"tenantId"`
	ClientID     string    `json:"clientId"`
	PrincipalID  string    `json:"principalId"`
	HeaderDigest []byte    `json:"headerDigest"`
	Created      time.Time `json:"createdDateTime"`
}

var identityName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

func miKey(tid, name string) string    { return "dir/" + tid + "/mi/" + strings.ToLower(name) }
func miHeaderKey(digest []byte) string { return "dirx/mihdr/" + hex.EncodeToString(digest) }

func newHeader() (plain string, digest []byte, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	plain = base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(plain))
	return plain, sum[:], nil
}

// CreateIdentity creates a managed identity and its service principal and
// returns the identity header, shown once.
func (d *Directory) CreateIdentity(ctx context.Context, tid, name string) (*ManagedIdentity, string, error) {
	if !identityName.MatchString(name) {
		return nil, "", invalidf("identity name %q: use 1 to 128 letters, digits, '-' and '_', starting with a letter or digit", name)
	}
	plain, digest, err := newHeader()
	if err != nil {
		return nil, "", err
	}
	now := d.now().UTC()
	mi := &ManagedIdentity{Name: name, TenantID: tid, ClientID: uuid.NewString(), PrincipalID: uuid.NewString(),
		HeaderDigest: digest, Created: now}
	sp := &ServicePrincipal{ObjectID: mi.PrincipalID, AppID: mi.ClientID, TenantID: tid, DisplayName: name,
		Enabled: true, Type: SPTypeManagedIdentity, Created: now}
	err = d.update(ctx, func(tx store.Tx) error {
		if err := requireTenant(tx, tid); err != nil {
			return err
		}
		if _, err := tx.Get(miKey(tid, name)); err == nil {
			return ErrExists
		}
		for k, v := range map[string]string{
			spAppIDKey(tid, mi.ClientID): sp.ObjectID,
			globalAppIDKey(mi.ClientID):  tid,
			miHeaderKey(digest):          tid + "/" + strings.ToLower(name),
		} {
			if err := tx.Put(k, []byte(v)); err != nil {
				return err
			}
		}
		if err := store.PutJSON(tx, miKey(tid, name), mi); err != nil {
			return err
		}
		return putObject(tx, tid, KindServicePrincipal, sp.ObjectID, sp)
	})
	if err != nil {
		return nil, "", err
	}
	return mi, plain, nil
}

// Identity returns the managed identity name.
func (d *Directory) Identity(ctx context.Context, tid, name string) (*ManagedIdentity, error) {
	var mi ManagedIdentity
	if err := d.view(ctx, func(tx store.Tx) error { return store.GetJSON(tx, miKey(tid, name), &mi) }); err != nil {
		return nil, err
	}
	return &mi, nil
}

// Identities lists the tenant's managed identities.
func (d *Directory) Identities(ctx context.Context, tid string) ([]ManagedIdentity, error) {
	var out []ManagedIdentity
	err := d.view(ctx, func(tx store.Tx) error {
		var err error
		out, err = store.ListJSON[ManagedIdentity](tx, "dir/"+tid+"/mi/")
		return err
	})
	return out, err
}

// ResetIdentityHeader replaces the identity's header (the old one stops
// working) and returns the new one, shown once.
func (d *Directory) ResetIdentityHeader(ctx context.Context, tid, name string) (string, error) {
	plain, digest, err := newHeader()
	if err != nil {
		return "", err
	}
	err = d.update(ctx, func(tx store.Tx) error {
		var mi ManagedIdentity
		if err := store.GetJSON(tx, miKey(tid, name), &mi); err != nil {
			return err
		}
		if err := tx.Delete(miHeaderKey(mi.HeaderDigest)); err != nil {
			return err
		}
		mi.HeaderDigest = digest
		if err := tx.Put(miHeaderKey(digest), []byte(tid+"/"+strings.ToLower(name))); err != nil {
			return err
		}
		return store.PutJSON(tx, miKey(tid, name), &mi)
	})
	return plain, err
}

// DeleteIdentity deletes the identity, its service principal and header.
func (d *Directory) DeleteIdentity(ctx context.Context, tid, name string) error {
	return d.update(ctx, func(tx store.Tx) error {
		var mi ManagedIdentity
		if err := store.GetJSON(tx, miKey(tid, name), &mi); err != nil {
			return err
		}
		for _, k := range []string{miHeaderKey(mi.HeaderDigest), globalAppIDKey(mi.ClientID), miKey(tid, name)} {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		if err := deleteSP(tx, tid, mi.PrincipalID); err != nil && err != ErrNotFound {
			return err
		}
		return nil
	})
}

// AuthenticateIdentityHeader returns the managed identity (and its
// enabled service principal) that header is bound to, or
// ErrBadCredential. The header is looked up by its SHA-256 digest, then
// the stored digest is compared in constant time.
func (d *Directory) AuthenticateIdentityHeader(ctx context.Context, header string) (*ManagedIdentity, *ServicePrincipal, error) {
	if header == "" || len(header) > 1024 {
		return nil, nil, ErrBadCredential
	}
	sum := sha256.Sum256([]byte(header))
	var mi ManagedIdentity
	var sp ServicePrincipal
	err := d.view(ctx, func(tx store.Tx) error {
		b, err := tx.Get(miHeaderKey(sum[:]))
		if err != nil {
			return ErrBadCredential
		}
		tid, name, _ := strings.Cut(string(b), "/")
		if err := store.GetJSON(tx, miKey(tid, name), &mi); err != nil {
			return ErrBadCredential
		}
		if subtle.ConstantTimeCompare(mi.HeaderDigest, sum[:]) != 1 {
			return ErrBadCredential
		}
		if err := store.GetJSON(tx, objKey(tid, KindServicePrincipal, mi.PrincipalID), &sp); err != nil || !sp.Enabled {
			return ErrBadCredential
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &mi, &sp, nil
}
