package rbac

import (
	"slices"
	"sort"
	"strings"
)

// RoleAssignment grants a role to a principal at a scope. ID is the
// assignment name (a GUID); RoleDefinitionID the role's bare GUID.
type RoleAssignment struct {
	ID               string `json:"id"`
	Scope            string `json:"scope"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	PrincipalID      string `json:"principalId"`
}

// Principal is the caller as authorization sees it: an object id plus the
// object ids of the groups it belongs to (transitively).
type Principal struct {
	ObjectID string
	Groups   []string
}

// Decision is the result of Decide: whether the action is allowed and, if
// so, which assignment and role granted it.
type Decision struct {
	Allowed    bool
	Assignment string
	Role       string
}

// grants holds, for one principal at one scope, the union of allowed
// actions and, per action bit, the first assignment that grants it.
type grants struct {
	mask uint64
	by   map[uint64]*RoleAssignment
}

// Policy is a compiled, immutable set of assignments. Decide costs
// O(number of the caller's groups), independent of how many assignments
// exist, and for a caller in many groups O(1) lookups after its first
// decision (memo.go).
type Policy struct {
	byPrincipal map[string]map[string]*grants // principal → canonical scope → grants
	memo        callerMemo
}

// roleBits is what role d grants: its dataActions less its notDataActions
// (which exclude from this role only; other roles may grant), and never a
// security domain action unless d is built in.
func roleBits(d RoleDefinition) uint64 {
	var allow, deny uint64
	for _, p := range d.Permissions {
		allow |= mask(p.DataActions)
		deny |= mask(p.NotDataActions)
	}
	if d.Type != TypeBuiltIn {
		allow &^= sdMask
	}
	return allow &^ deny
}

// Compile builds a Policy. Assignments naming unknown roles grant nothing
// (a deleted custom role's assignments become defunct).
func Compile(defs []RoleDefinition, assignments []RoleAssignment) *Policy {
	roleMask := map[string]uint64{}
	for _, d := range defs {
		roleMask[strings.ToLower(d.ID)] = roleBits(d)
	}
	p := &Policy{byPrincipal: map[string]map[string]*grants{}}
	for i := range assignments {
		a := &assignments[i]
		m := roleMask[strings.ToLower(a.RoleDefinitionID)]
		if m == 0 {
			continue
		}
		scope, err := CanonicalScope(a.Scope)
		if err != nil {
			continue
		}
		pid := strings.ToLower(a.PrincipalID)
		byScope := p.byPrincipal[pid]
		if byScope == nil {
			byScope = map[string]*grants{}
			p.byPrincipal[pid] = byScope
		}
		g := byScope[scope]
		if g == nil {
			g = &grants{by: map[uint64]*RoleAssignment{}}
			byScope[scope] = g
		}
		for bit := uint64(1); bit != 0 && bit <= m; bit <<= 1 {
			if m&bit != 0 && g.by[bit] == nil {
				g.by[bit] = a
			}
		}
		g.mask |= m
	}
	return p
}

// Decide reports whether pr may perform action at scope. scope must be
// canonical (see CanonicalScope). Grants at "/" cover every scope; grants at
// "/keys" cover "/keys" and every key; grants at "/keys/{name}" cover only
// that key. Unknown actions are denied.
func (p *Policy) Decide(pr Principal, action Action, scope string) Decision {
	bit := bitOf(action)
	if bit == 0 || p == nil {
		return Decision{}
	}
	if len(pr.Groups) >= memoMinGroups {
		for _, byScope := range p.holders(pr) {
			if d, ok := decideAt(byScope, bit, scope); ok {
				return d
			}
		}
		return Decision{}
	}
	return p.decideDirect(pr, bit, scope)
}

// decideDirect is Decide without the memo: pr's object id, then its groups
// in order; the first that holds the action decides.
func (p *Policy) decideDirect(pr Principal, bit uint64, scope string) Decision {
	if d, ok := decideAt(p.byPrincipal[strings.ToLower(pr.ObjectID)], bit, scope); ok {
		return d
	}
	for _, g := range pr.Groups {
		if d, ok := decideAt(p.byPrincipal[strings.ToLower(g)], bit, scope); ok {
			return d
		}
	}
	return Decision{}
}

// decideAt decides for one assignee's grants (nil: none): at the widest
// covering scope first (see covering).
func decideAt(byScope map[string]*grants, bit uint64, scope string) (Decision, bool) {
	if byScope == nil {
		return Decision{}, false
	}
	for _, s := range covering(scope) {
		if g := byScope[s]; g != nil && g.mask&bit != 0 {
			a := g.by[bit]
			return Decision{Allowed: true, Assignment: a.ID, Role: a.RoleDefinitionID}, true
		}
	}
	return Decision{}, false
}

// Grants returns every action any assignment to one of principalIDs grants,
// at any scope. Pass a principal's own id and its groups' ids for what it
// holds in effect; groups are not expanded here.
func Grants(defs []RoleDefinition, assignments []RoleAssignment, principalIDs ...string) []Action {
	var m uint64
	for _, a := range assignments {
		if !slices.ContainsFunc(principalIDs, func(id string) bool { return strings.EqualFold(a.PrincipalID, id) }) {
			continue
		}
		for _, d := range defs {
			if strings.EqualFold(d.ID, a.RoleDefinitionID) {
				m |= roleBits(d)
			}
		}
	}
	var out []Action
	for i, a := range AllActions {
		if m&(1<<i) != 0 {
			out = append(out, a)
		}
	}
	return out
}

// Grant is one assignee that may perform an action, and why.
type Grant struct {
	PrincipalID string
	Assignment  string
	Role        string
	Scope       string
}

// WhoCan lists the assignees (users, groups, service principals, managed
// identities — groups not expanded) granted action at scope, with the
// granting assignment. It walks every assignee: it is for access review,
// not the request path.
func (p *Policy) WhoCan(action Action, scope string) []Grant {
	bit := bitOf(action)
	if bit == 0 || p == nil {
		return nil
	}
	var out []Grant
	for pid, byScope := range p.byPrincipal {
		for _, s := range covering(scope) {
			if g := byScope[s]; g != nil && g.mask&bit != 0 {
				a := g.by[bit]
				out = append(out, Grant{PrincipalID: pid, Assignment: a.ID, Role: a.RoleDefinitionID, Scope: s})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PrincipalID < out[j].PrincipalID })
	return out
}
