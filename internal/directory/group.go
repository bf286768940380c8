package directory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/store"
)

// Group is a security group. Members are object ids of users, groups and
// service principals (managed identities included). Membership nests, and
// cycles are allowed: TransitiveMemberOf visits each group once.
type Group struct {
	ID              string    `json:"id"`
	TenantID        string    `json:"tenantId"`
	DisplayName     string    `json:"displayName"`
	Description     string    `json:"description,omitempty"`
	MailNickname    string    `json:"mailNickname,omitempty"`
	SecurityEnabled bool      `json:"securityEnabled"`
	Members         []string  `json:"members,omitempty"`
	Created         time.Time `json:"createdDateTime"`
}

// NewGroup is what CreateGroup needs.
type NewGroup struct {
	DisplayName  string
	Description  string
	MailNickname string
}

// MaxMembers bounds a group's direct members.
const MaxMembers = 50000

func memberOfKey(tid, member, group string) string {
	return "dir/" + tid + "/memberof/" + member + "/" + group
}

// CreateGroup creates a security group. Display names need not be unique,
// as in Entra ID; object ids are what identify a group.
func (d *Directory) CreateGroup(ctx context.Context, tid string, n NewGroup) (*Group, error) {
	if strings.TrimSpace(n.DisplayName) == "" || len(n.DisplayName) > 256 {
		return nil, invalidf("displayName is required (at most 256 characters)")
	}
	g := &Group{ID: uuid.NewString(), TenantID: tid, DisplayName: n.DisplayName, Description: n.Description,
		MailNickname: n.MailNickname, SecurityEnabled: true, Created: d.now().UTC()}
	err := d.update(ctx, func(tx store.Tx) error {
		if err := requireTenant(tx, tid); err != nil {
			return err
		}
		return putObject(tx, tid, KindGroup, g.ID, g)
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Group returns the group id.
func (d *Directory) Group(ctx context.Context, tid, id string) (*Group, error) {
	var g Group
	err := d.view(ctx, func(tx store.Tx) error { return getGroup(tx, tid, id, &g) })
	if err != nil {
		return nil, err
	}
	return &g, nil
}

func getGroup(tx store.Tx, tid, id string, g *Group) error {
	oid, err := canonicalID(id)
	if err != nil {
		return err
	}
	return store.GetJSON(tx, objKey(tid, KindGroup, oid), g)
}

// Groups lists the tenant's groups.
func (d *Directory) Groups(ctx context.Context, tid string) ([]Group, error) {
	var out []Group
	err := d.view(ctx, func(tx store.Tx) error {
		var err error
		out, err = store.ListJSON[Group](tx, "dir/"+tid+"/"+KindGroup+"/")
		return err
	})
	return out, err
}

// UpdateGroup changes a group's display name and description (nil: keep).
func (d *Directory) UpdateGroup(ctx context.Context, tid, id string, displayName, description *string) (*Group, error) {
	var g Group
	err := d.update(ctx, func(tx store.Tx) error {
		if err := getGroup(tx, tid, id, &g); err != nil {
			return err
		}
		if displayName != nil {
			if strings.TrimSpace(*displayName) == "" {
				return invalidf("displayName must not be empty")
			}
			g.DisplayName = *displayName
		}
		if description != nil {
			g.Description = *description
		}
		return putObject(tx, tid, KindGroup, g.ID, &g)
	})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// DeleteGroup deletes the group, its memberships and its members' links.
func (d *Directory) DeleteGroup(ctx context.Context, tid, id string) error {
	return d.update(ctx, func(tx store.Tx) error {
		var g Group
		if err := getGroup(tx, tid, id, &g); err != nil {
			return err
		}
		return deleteObject(tx, tid, KindGroup, g.ID)
	})
}

// AddMember adds the object member (a user, group or service principal)
// to group gid. Adding an existing member is ErrExists; a membership the
// MembershipGuard refuses returns the guard's error (membercheck.go).
func (d *Directory) AddMember(ctx context.Context, tid, gid, member string) error {
	return d.guardMembership(ctx, tid, gid, member, func() error { return d.addMember(ctx, tid, gid, member) })
}

func (d *Directory) addMember(ctx context.Context, tid, gid, member string) error {
	return d.update(ctx, func(tx store.Tx) error {
		var g Group
		if err := getGroup(tx, tid, gid, &g); err != nil {
			return err
		}
		kind, err := objectKind(tx, tid, member)
		if err != nil {
			return invalidf("no user, group or service principal %q exists in this tenant", member)
		}
		if kind == KindApplication {
			return invalidf("an application cannot be a group member; add its service principal")
		}
		m, _ := canonicalID(member)
		if slices.Contains(g.Members, m) {
			return ErrExists
		}
		if len(g.Members) >= MaxMembers {
			return invalidf("a group has at most %d direct members", MaxMembers)
		}
		g.Members = append(g.Members, m)
		if err := tx.Put(memberOfKey(tid, m, g.ID), nil); err != nil {
			return err
		}
		return putObject(tx, tid, KindGroup, g.ID, &g)
	})
}

// RemoveMember removes member from group gid.
func (d *Directory) RemoveMember(ctx context.Context, tid, gid, member string) error {
	return d.update(ctx, func(tx store.Tx) error {
		var g Group
		if err := getGroup(tx, tid, gid, &g); err != nil {
			return err
		}
		m, err := canonicalID(member)
		if err != nil || !slices.Contains(g.Members, m) {
			return ErrNotFound
		}
		return unlink(tx, tid, g, m)
	})
}

func unlink(tx store.Tx, tid string, g Group, member string) error {
	g.Members = slices.DeleteFunc(g.Members, func(x string) bool { return x == member })
	if err := tx.Delete(memberOfKey(tid, member, g.ID)); err != nil {
		return err
	}
	return putObject(tx, tid, KindGroup, g.ID, &g)
}

// Members returns the group's direct members.
func (d *Directory) Members(ctx context.Context, tid, gid string) ([]Object, error) {
	var out []Object
	err := d.view(ctx, func(tx store.Tx) error {
		var g Group
		if err := getGroup(tx, tid, gid, &g); err != nil {
			return err
		}
		var err error
		out, err = objects(tx, tid, g.Members)
		return err
	})
	return out, err
}

// TransitiveMembers returns every object reachable from group gid through
// membership, each once, the group itself excluded.
func (d *Directory) TransitiveMembers(ctx context.Context, tid, gid string) ([]Object, error) {
	var out []Object
	err := d.view(ctx, func(tx store.Tx) error {
		var root Group
		if err := getGroup(tx, tid, gid, &root); err != nil {
			return err
		}
		seen := map[string]bool{root.ID: true}
		var ids []string
		queue := []string{root.ID}
		for len(queue) > 0 {
			var g Group
			if err := getGroup(tx, tid, queue[0], &g); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			queue = queue[1:]
			for _, m := range g.Members {
				if seen[m] {
					continue
				}
				seen[m] = true
				ids = append(ids, m)
				if k, _ := objectKind(tx, tid, m); k == KindGroup {
					queue = append(queue, m)
				}
			}
		}
		var err error
		out, err = objects(tx, tid, ids)
		return err
	})
	return out, err
}

// MemberOf returns the ids of the groups oid is a direct member of.
func (d *Directory) MemberOf(ctx context.Context, tid, oid string) ([]string, error) {
	var out []string
	err := d.view(ctx, func(tx store.Tx) error {
		var err error
		out, err = directGroups(tx, tid, oid)
		return err
	})
	return out, err
}

func directGroups(tx store.Tx, tid, oid string) ([]string, error) {
	prefix := "dir/" + tid + "/memberof/" + oid + "/"
	kvs, err := tx.List(prefix, "", 0)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, strings.TrimPrefix(kv.Key, prefix))
	}
	return out, nil
}

// TransitiveMemberOf returns the ids of every group oid belongs to,
// directly or through nested groups, each once, sorted. Results are cached
// until the directory next changes.
func (d *Directory) TransitiveMemberOf(ctx context.Context, tid, oid string) ([]string, error) {
	oid, err := canonicalID(oid)
	if err != nil {
		return nil, nil // not a directory object: member of nothing
	}
	gen := d.Generation()
	ck := tid + "/" + oid
	d.groupsMu.Lock()
	if d.groupsGen != gen {
		clear(d.groups)
		d.groupsGen = gen
	}
	if g, ok := d.groups[ck]; ok {
		d.groupsMu.Unlock()
		return g, nil
	}
	d.groupsMu.Unlock()

	var out []string
	err = d.view(ctx, func(tx store.Tx) error {
		seen := map[string]bool{oid: true}
		queue := []string{oid}
		for len(queue) > 0 {
			gs, err := directGroups(tx, tid, queue[0])
			if err != nil {
				return err
			}
			queue = queue[1:]
			for _, g := range gs {
				if !seen[g] {
					seen[g] = true
					out = append(out, g)
					queue = append(queue, g)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	d.groupsMu.Lock()
	if d.groupsGen == gen && len(d.groups) < 100000 {
		d.groups[ck] = out
	}
	d.groupsMu.Unlock()
	return out, nil
}
