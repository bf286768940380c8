package directory

import "context"

// MembershipGuard wraps every group membership addition: it may refuse
// the change by returning an error without calling write, or call write
// (which adds the member) and return its error. The separation-of-duties
// guard of the HSMs is one (hsm.Service.GuardMembership via internal/app):
// a membership may not bring two conflicting role grants together, and it
// holds the HSMs' role locks around write so no role change interleaves.
// A refusal meant for the caller should wrap ErrInvalid; AddMember returns
// the guard's error unchanged.
type MembershipGuard func(ctx context.Context, tid, gid, member string, write func() error) error

// SetMembershipGuard installs g (nil removes it). AddMember calls it with
// canonical ids.
func (d *Directory) SetMembershipGuard(g MembershipGuard) { d.memberGuard.Store(&g) }

// guardMembership runs write through the installed guard, if any.
func (d *Directory) guardMembership(ctx context.Context, tid, gid, member string, write func() error) error {
	g := d.memberGuard.Load()
	if g == nil || *g == nil {
		return write()
	}
	cg, err := canonicalID(gid)
	if err != nil {
		return write() // answers not found
	}
	cm, err := canonicalID(member)
	if err != nil {
		return write() // answers invalid
	}
	return (*g)(ctx, tid, cg, cm, write)
}
