package rbac

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
)

// A caller in many groups would cost Decide a lowercasing and a map lookup
// per group on every request (10–20 µs for 200 groups). A Policy therefore
// memoizes, per caller, which of its ids hold any grant at all — usually
// none or one or two of the groups — so that a decision looks at those
// only.
//
// Invalidation is by snapshot: the memo belongs to the Policy, which is
// immutable and replaced as a whole (Compile) whenever an assignment or a
// role changes, so an entry can never outlive the grants it was computed
// from. Memory is bounded: the entries' size (the ids they copy, every
// group's, and their lists) is capped at memoMaxBytes, past which the memo
// is emptied and refills with the callers still calling.

const (
	// memoMinGroups: callers in fewer groups are decided directly, which
	// costs about as much as finding their entry.
	memoMinGroups = 16
	// memoMaxBytes caps the memo of one Policy (about 400 callers in 200
	// groups each).
	memoMaxBytes = 4 << 20
)

// callerMemo maps callers to the byScope maps of their ids that hold
// grants, in the order Decide checks them. Entries are found by a hash of
// the caller's ids under a per-process random seed and confirmed by
// comparing every id, so a hash collision costs a comparison, never a
// wrong decision; neither lookup nor hit allocates.
type callerMemo struct {
	mu    sync.Mutex
	m     map[uint64][]*memoEntry
	bytes int
}

// memoEntry is one caller, its ids copied, and its holders.
type memoEntry struct {
	objectID string
	groups   []string
	holders  []map[string]*grants
}

var memoSeed = maphash.MakeSeed()

// memoHash hashes pr's object id and group ids, in order: each id is
// hashed on its own (maphash.String, no buffering) and the hashes are
// chained, so ids' boundaries and order count.
func memoHash(pr Principal) uint64 {
	h := maphash.String(memoSeed, pr.ObjectID)
	for _, g := range pr.Groups {
		h = bits.RotateLeft64(h, 29)*0x9e3779b97f4a7c15 ^ maphash.String(memoSeed, g)
	}
	return h
}

// is reports whether e is pr (same ids, same order).
func (e *memoEntry) is(pr Principal) bool {
	return e.objectID == pr.ObjectID && slices.Equal(e.groups, pr.Groups)
}

// holders returns the byScope maps of pr's object id and groups that hold
// grants, in that order, from the memo or computed and memoized.
func (p *Policy) holders(pr Principal) []map[string]*grants {
	h := memoHash(pr)
	// The lock covers the map only: entries never change once filed, and
	// a bucket only grows past the length read here.
	p.memo.mu.Lock()
	bucket := p.memo.m[h]
	p.memo.mu.Unlock()
	for _, e := range bucket {
		if e.is(pr) {
			return e.holders
		}
	}
	e := &memoEntry{objectID: pr.ObjectID, groups: slices.Clone(pr.Groups), holders: p.lookupHolders(pr)}
	// What the entry keeps alive: the ids, the lists, map overhead.
	size := len(e.objectID) + 8*len(e.holders) + 128
	for _, g := range e.groups {
		size += 16 + len(g)
	}
	p.memo.mu.Lock()
	defer p.memo.mu.Unlock()
	if p.memo.m == nil || p.memo.bytes+size > memoMaxBytes {
		p.memo.m, p.memo.bytes = map[uint64][]*memoEntry{}, 0
	}
	for _, o := range p.memo.m[h] {
		if o.is(pr) { // memoized meanwhile by another request
			return o.holders
		}
	}
	p.memo.m[h] = append(p.memo.m[h], e)
	p.memo.bytes += size
	return e.holders
}

// lookupHolders computes holders without the memo.
func (p *Policy) lookupHolders(pr Principal) []map[string]*grants {
	var hs []map[string]*grants
	if bs := p.byPrincipal[strings.ToLower(pr.ObjectID)]; bs != nil {
		hs = append(hs, bs)
	}
	for _, g := range pr.Groups {
		if bs := p.byPrincipal[strings.ToLower(g)]; bs != nil {
			hs = append(hs, bs)
		}
	}
	return hs
}
