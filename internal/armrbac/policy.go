package armrbac

import (
	"strings"
)

// Assignment grants a role to a principal at a scope.
type Assignment struct {
	Name             string `json:"name"`             // GUID
	Scope            string `json:"scope"`            // ARM spelling
	RoleDefinitionID string `json:"roleDefinitionId"` // bare GUID
	PrincipalID      string `json:"principalId"`
	PrincipalType    string `json:"principalType,omitempty"`
}

// ID is the assignment's resource id.
func (a Assignment) ID() string {
	return strings.TrimSuffix(a.Scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + a.Name
}

// Principal is the caller as authorization sees it: an object id and the
// ids of every group it belongs to, transitively.
type Principal struct {
	ObjectID string
	Groups   []string
}

// Decision is the record of an authorization: whether it was allowed and,
// if so, which assignment (its resource id), role and scope granted it.
type Decision struct {
	Allowed    bool
	Assignment string
	Role       string
	Scope      string
}

type grants struct {
	mask uint64
	by   map[uint64]*Assignment // first assignment granting each action bit
}

// Policy is a compiled, immutable set of assignments. Decide costs
// O((1 + groups) × scope depth) map lookups, independent of how many
// assignments or roles exist.
type Policy struct {
	byPrincipal map[string]map[string]*grants // principal → scope key → grants
	at          map[string]map[string]bool    // principal → keys of its assignments' scopes
	under       map[string]map[string]bool    // principal → keys of scopes containing one of its assignments
}

// Compile builds a Policy from role definitions (built-in and custom) and
// assignments. Assignments naming unknown roles or malformed scopes grant
// nothing.
func Compile(defs []RoleDefinition, assignments []Assignment) *Policy {
	roleMask := map[string]uint64{}
	for _, d := range defs {
		var m uint64
		for _, a := range Actions {
			if d.Grants(a) {
				m |= actionBit[strings.ToLower(string(a))]
			}
		}
		roleMask[strings.ToLower(d.ID)] = m
	}
	p := &Policy{byPrincipal: map[string]map[string]*grants{}, at: map[string]map[string]bool{}, under: map[string]map[string]bool{}}
	for i := range assignments {
		a := &assignments[i]
		sc, err := ParseScope(a.Scope)
		if err != nil {
			continue
		}
		pid := strings.ToLower(a.PrincipalID)
		anc := sc.Ancestors()
		key := anc[len(anc)-1]
		if p.under[pid] == nil {
			p.under[pid], p.at[pid] = map[string]bool{}, map[string]bool{}
		}
		p.at[pid][key] = true
		for _, k := range anc {
			p.under[pid][k] = true
		}
		m := roleMask[strings.ToLower(a.RoleDefinitionID)]
		if m == 0 {
			continue
		}
		byScope := p.byPrincipal[pid]
		if byScope == nil {
			byScope = map[string]*grants{}
			p.byPrincipal[pid] = byScope
		}
		g := byScope[key]
		if g == nil {
			g = &grants{by: map[uint64]*Assignment{}}
			byScope[key] = g
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

// Decide reports whether pr may perform action at scope: some assignment
// of pr or of one of its groups, at scope or any scope containing it,
// names a role granting action. Unknown actions are denied.
func (p *Policy) Decide(pr Principal, action Action, scope Scope) Decision {
	bit := actionBit[strings.ToLower(string(action))]
	if bit == 0 || p == nil {
		return Decision{}
	}
	anc := scope.Ancestors()
	check := func(id string) (Decision, bool) {
		byScope := p.byPrincipal[strings.ToLower(id)]
		if byScope == nil {
			return Decision{}, false
		}
		for _, k := range anc {
			if g := byScope[k]; g != nil && g.mask&bit != 0 {
				a := g.by[bit]
				return Decision{Allowed: true, Assignment: a.ID(), Role: a.RoleDefinitionID, Scope: a.Scope}, true
			}
		}
		return Decision{}, false
	}
	if d, ok := check(pr.ObjectID); ok {
		return d
	}
	for _, g := range pr.Groups {
		if d, ok := check(g); ok {
			return d
		}
	}
	return Decision{}
}

// Visible reports whether pr holds any role assignment at, above or below
// scope — what makes a subscription appear in the caller's list.
func (p *Policy) Visible(pr Principal, scope Scope) bool {
	if p == nil {
		return false
	}
	key := scope.Key()
	anc := scope.Ancestors()
	seen := func(id string) bool {
		id = strings.ToLower(id)
		if p.under[id][key] {
			return true
		}
		for _, k := range anc {
			if p.at[id][k] {
				return true
			}
		}
		return false
	}
	if seen(pr.ObjectID) {
		return true
	}
	for _, g := range pr.Groups {
		if seen(g) {
			return true
		}
	}
	return false
}
