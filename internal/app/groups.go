package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/hsm"
)

var _ hsm.GroupResolver = principals{}

// TransitiveMemberOf returns every group oid belongs to (hsm.GroupResolver).
func (p principals) TransitiveMemberOf(ctx context.Context, tid, oid string) ([]string, error) {
	return p.dir.TransitiveMemberOf(ctx, tid, oid)
}

// TransitiveMemberIDs returns the object ids reachable from group gid; none
// when gid is not a group (hsm.GroupResolver).
func (p principals) TransitiveMemberIDs(ctx context.Context, tid, gid string) ([]string, error) {
	kind, err := p.dir.ObjectKind(ctx, tid, gid)
	if errors.Is(err, directory.ErrNotFound) || err == nil && kind != directory.KindGroup {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	objs, err := p.dir.TransitiveMembers(ctx, tid, gid)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(objs))
	for i, o := range objs {
		ids[i] = o.ID()
	}
	return ids, nil
}

// membershipGuard is the HSMs' separation-of-duties guard around group
// membership additions; its refusals become directory.ErrInvalid, which
// Graph shows the caller (400) with the rule named.
func membershipGuard(hsms *hsm.Service) directory.MembershipGuard {
	return func(ctx context.Context, tid, gid, member string, write func() error) error {
		var writeErr error
		err := hsms.GuardMembership(ctx, tid, gid, member, func() error { writeErr = write(); return writeErr })
		if err == nil || writeErr != nil {
			return err
		}
		if he, ok := hsm.AsError(err); ok && he.Kind == hsm.KindBadRequest {
			return fmt.Errorf("%w: %s", directory.ErrInvalid, he.Message)
		}
		return err
	}
}
