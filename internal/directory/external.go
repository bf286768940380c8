package directory

import (
	"context"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/store"
)

// KindExternal is a reference to a principal of a trusted external issuer
// (Graph's directoryObjectPartnerReference). It exists so that role
// assignments can name the principal; its id is the one the verifier
// derives from the external token (token.ExternalObjectID for iss+sub, or
// the issuer's own object id claim), so it is never chosen from a mutable
// claim.
const KindExternal = "externalPrincipal"

// ExternalPrincipal is a reference to an external user or group.
type ExternalPrincipal struct {
	ID          string    `json:"id"`
	TenantID    string    `json:"tenantId"`
	Issuer      string    `json:"issuer"`
	Subject     string    `json:"subject,omitempty"`
	DisplayName string    `json:"displayName"`
	Type        string    `json:"objectType"` // User or Group
	Created     time.Time `json:"createdDateTime"`
}

// AddExternalPrincipal records an external principal with object id p.ID.
func (d *Directory) AddExternalPrincipal(ctx context.Context, tid string, p ExternalPrincipal) (*ExternalPrincipal, error) {
	id, err := canonicalID(p.ID)
	if err != nil {
		return nil, invalidf("the external principal's id must be a GUID")
	}
	if p.Issuer == "" {
		return nil, invalidf("issuer is required")
	}
	switch strings.ToLower(p.Type) {
	case "", "user":
		p.Type = "User"
	case "group":
		p.Type = "Group"
	default:
		return nil, invalidf("objectType must be User or Group")
	}
	if p.DisplayName == "" {
		p.DisplayName = p.Subject
	}
	p.ID, p.TenantID, p.Created = id, tid, d.now().UTC()
	err = d.update(ctx, func(tx store.Tx) error {
		if err := requireTenant(tx, tid); err != nil {
			return err
		}
		if _, err := tx.Get(kindKey(tid, id)); err == nil {
			return ErrExists
		}
		return putObject(tx, tid, KindExternal, id, &p)
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// ExternalPrincipals lists the tenant's external principal references.
func (d *Directory) ExternalPrincipals(ctx context.Context, tid string) ([]ExternalPrincipal, error) {
	var out []ExternalPrincipal
	err := d.view(ctx, func(tx store.Tx) error {
		var err error
		out, err = store.ListJSON[ExternalPrincipal](tx, "dir/"+tid+"/"+KindExternal+"/")
		return err
	})
	return out, err
}

// DeleteExternalPrincipal removes a reference (and its memberships). The
// external issuer's tokens are not affected; role assignments naming it
// remain until removed.
func (d *Directory) DeleteExternalPrincipal(ctx context.Context, tid, id string) error {
	return d.update(ctx, func(tx store.Tx) error {
		kind, err := objectKind(tx, tid, id)
		if err != nil {
			return err
		}
		if kind != KindExternal {
			return ErrNotFound
		}
		oid, _ := canonicalID(id)
		return deleteObject(tx, tid, KindExternal, oid)
	})
}
