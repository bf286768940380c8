package directory

import (
	"context"
	"errors"

	"github.com/mhsm/mhsm/internal/store"
)

// Object is any directory object; exactly one pointer is set, per Kind.
type Object struct {
	Kind             string
	User             *User
	Group            *Group
	Application      *Application
	ServicePrincipal *ServicePrincipal
	External         *ExternalPrincipal
}

// ID returns the object's id.
func (o Object) ID() string {
	switch {
	case o.User != nil:
		return o.User.ID
	case o.Group != nil:
		return o.Group.ID
	case o.Application != nil:
		return o.Application.ID
	case o.ServicePrincipal != nil:
		return o.ServicePrincipal.ObjectID
	case o.External != nil:
		return o.External.ID
	}
	return ""
}

// Objects returns the objects named by ids, in order, skipping ids that
// name nothing (as Graph's getByIds does).
func (d *Directory) Objects(ctx context.Context, tid string, ids []string) ([]Object, error) {
	var out []Object
	err := d.view(ctx, func(tx store.Tx) error {
		var err error
		out, err = objects(tx, tid, ids)
		return err
	})
	return out, err
}

func objects(tx store.Tx, tid string, ids []string) ([]Object, error) {
	out := make([]Object, 0, len(ids))
	for _, id := range ids {
		o, err := object(tx, tid, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func object(tx store.Tx, tid, id string) (Object, error) {
	kind, err := objectKind(tx, tid, id)
	if err != nil {
		return Object{}, err
	}
	oid, _ := canonicalID(id)
	o := Object{Kind: kind}
	key := objKey(tid, kind, oid)
	switch kind {
	case KindUser:
		o.User = &User{}
		err = store.GetJSON(tx, key, o.User)
	case KindGroup:
		o.Group = &Group{}
		err = store.GetJSON(tx, key, o.Group)
	case KindApplication:
		o.Application = &Application{}
		err = store.GetJSON(tx, key, o.Application)
	case KindServicePrincipal:
		o.ServicePrincipal = &ServicePrincipal{}
		err = store.GetJSON(tx, key, o.ServicePrincipal)
	case KindExternal:
		o.External = &ExternalPrincipal{}
		err = store.GetJSON(tx, key, o.External)
	default:
		return Object{}, ErrNotFound
	}
	return o, err
}

// deleteObject removes an object, its kind index, its group memberships,
// (for a group) its members' links, and its directory roles.
func deleteObject(tx store.Tx, tid, kind, oid string) error {
	groups, err := directGroups(tx, tid, oid)
	if err != nil {
		return err
	}
	for _, gid := range groups {
		var g Group
		if err := getGroup(tx, tid, gid, &g); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return err
		}
		if err := unlink(tx, tid, g, oid); err != nil {
			return err
		}
	}
	if kind == KindGroup {
		var g Group
		if err := getGroup(tx, tid, oid, &g); err != nil {
			return err
		}
		for _, m := range g.Members {
			if err := tx.Delete(memberOfKey(tid, m, oid)); err != nil {
				return err
			}
		}
	}
	if err := tx.Delete(adminKey(tid, oid)); err != nil {
		return err
	}
	if err := tx.Delete(kindKey(tid, oid)); err != nil {
		return err
	}
	return tx.Delete(objKey(tid, kind, oid))
}
