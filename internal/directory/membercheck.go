package directory

import (
	"context"
	"fmt"
)

// MembershipCheck is asked before a member joins a group; a non-nil error
// refuses the change. The separation-of-duties guard of the HSMs
// (hsm.Service.CheckMembership) is one: a membership may not bring two
// conflicting role grants together. Its message is shown to the caller.
type MembershipCheck func(ctx context.Context, tid, gid, member string) error

// SetMembershipCheck installs f (nil removes it); AddMember calls it with
// canonical ids before it writes.
func (d *Directory) SetMembershipCheck(f MembershipCheck) { d.memberCheck.Store(&f) }

func (d *Directory) checkMembership(ctx context.Context, tid, gid, member string) error {
	f := d.memberCheck.Load()
	if f == nil || *f == nil {
		return nil
	}
	g, err := canonicalID(gid)
	if err != nil {
		return nil // AddMember answers not found
	}
	m, err := canonicalID(member)
	if err != nil {
		return nil
	}
	if err := (*f)(ctx, tid, g, m); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, err.Error())
	}
	return nil
}
