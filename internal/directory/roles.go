package directory

import (
	"context"

	"github.com/mhsm/mhsm/internal/store"
)

// The directory has one role: tenant administrator, who may create,
// change and delete every directory object through Graph. Everyone else in
// the tenant may read (see package httpapi's Graph routes).

func adminKey(tid, oid string) string { return "dir/" + tid + "/role/admin/" + oid }

// RoleTenantAdministrator is the role's template id, Entra ID's "Global
// Administrator" (62e90394-69f5-4237-9190-012177145e10).
const RoleTenantAdministrator = "62e90394-69f5-4237-9190-012177145e10"

// MakeAdministrator gives the user or service principal oid the tenant
// administrator role.
func (d *Directory) MakeAdministrator(ctx context.Context, tid, oid string) error {
	return d.update(ctx, func(tx store.Tx) error {
		kind, err := objectKind(tx, tid, oid)
		if err != nil {
			return err
		}
		if kind != KindUser && kind != KindServicePrincipal {
			return invalidf("only users and service principals can hold a directory role")
		}
		id, _ := canonicalID(oid)
		return tx.Put(adminKey(tid, id), nil)
	})
}

// RemoveAdministrator takes the role away from oid.
func (d *Directory) RemoveAdministrator(ctx context.Context, tid, oid string) error {
	id, err := canonicalID(oid)
	if err != nil {
		return err
	}
	return d.update(ctx, func(tx store.Tx) error { return tx.Delete(adminKey(tid, id)) })
}

// IsAdministrator reports whether oid holds the tenant administrator role.
func (d *Directory) IsAdministrator(ctx context.Context, tid, oid string) (bool, error) {
	id, err := canonicalID(oid)
	if err != nil {
		return false, nil
	}
	var ok bool
	err = d.view(ctx, func(tx store.Tx) error {
		_, err := tx.Get(adminKey(tid, id))
		ok = err == nil
		return nil
	})
	return ok, err
}

// Administrators lists the holders of the tenant administrator role.
func (d *Directory) Administrators(ctx context.Context, tid string) ([]string, error) {
	var out []string
	err := d.view(ctx, func(tx store.Tx) error {
		kvs, err := tx.List("dir/"+tid+"/role/admin/", "", 0)
		for _, kv := range kvs {
			out = append(out, kv.Key[len("dir/"+tid+"/role/admin/"):])
		}
		return err
	})
	return out, err
}
