package armrbac

import (
	"errors"
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// ErrBadScope is returned for a string that is not a management scope.
var ErrBadScope = errors.New("armrbac: invalid scope")

// Level is the kind of thing a scope names.
type Level int

// Scope levels, outermost first.
const (
	LevelRoot Level = iota
	LevelSubscription
	LevelResourceGroup
	LevelResource
)

// Scope is a parsed management scope: the root "/", a subscription, a
// resource group, or a resource (nested types allowed) in a resource group
// or directly in a subscription. Names keep the case they were given;
// Key is the case-insensitive identity.
type Scope struct {
	Subscription  string   // lower-case GUID; "" for the root
	ResourceGroup string   // "" above resource-group level
	Provider      string   // resource provider namespace, e.g. Microsoft.KeyVault
	Types         []string // resource type chain, e.g. [managedHSMs]
	Names         []string // names, one per type
}

var (
	rgPattern       = regexp.MustCompile(`^[-\w._()]{1,90}$`)
	namespacePatten = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9.]{0,62}$`)
	segmentPattern  = regexp.MustCompile(`^[-\w._()~@]{1,260}$`)
)

// ValidResourceGroupName reports whether n is a legal resource group name:
// 1 to 90 letters, digits, '_', '-', '.', '(' and ')', not ending in '.'.
func ValidResourceGroupName(n string) bool {
	return rgPattern.MatchString(n) && !strings.HasSuffix(n, ".")
}

// ParseScope parses a scope string such as
// "/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.KeyVault/managedHSMs/{name}".
// Repeated slashes are ignored; "." and ".." segments are refused.
func ParseScope(s string) (Scope, error) {
	var segs []string
	for _, p := range strings.Split(s, "/") {
		if p != "" {
			segs = append(segs, p)
		}
	}
	return ParseSegments(segs)
}

// ParseSegments parses a scope already split into path segments.
func ParseSegments(segs []string) (Scope, error) {
	var sc Scope
	if len(segs) == 0 {
		return sc, nil
	}
	for _, p := range segs {
		if p == "." || p == ".." {
			return Scope{}, ErrBadScope
		}
	}
	if len(segs) < 2 || !strings.EqualFold(segs[0], "subscriptions") {
		return Scope{}, ErrBadScope
	}
	id, err := uuid.Parse(segs[1])
	if err != nil || len(segs[1]) != 36 {
		return Scope{}, ErrBadScope
	}
	sc.Subscription = id.String()
	rest := segs[2:]
	if len(rest) >= 2 && strings.EqualFold(rest[0], "resourceGroups") {
		if !ValidResourceGroupName(rest[1]) {
			return Scope{}, ErrBadScope
		}
		sc.ResourceGroup = rest[1]
		rest = rest[2:]
	}
	if len(rest) == 0 {
		return sc, nil
	}
	// providers/{namespace}/{type}/{name}[/{type}/{name}...]
	if len(rest) < 4 || len(rest)%2 != 0 || !strings.EqualFold(rest[0], "providers") || !namespacePatten.MatchString(rest[1]) {
		return Scope{}, ErrBadScope
	}
	sc.Provider = rest[1]
	for i := 2; i < len(rest); i += 2 {
		if !segmentPattern.MatchString(rest[i]) || !segmentPattern.MatchString(rest[i+1]) || strings.EqualFold(rest[i], "providers") {
			return Scope{}, ErrBadScope
		}
		sc.Types = append(sc.Types, rest[i])
		sc.Names = append(sc.Names, rest[i+1])
	}
	return sc, nil
}

// Level returns what the scope names.
func (s Scope) Level() Level {
	switch {
	case s.Subscription == "":
		return LevelRoot
	case s.Provider != "":
		return LevelResource
	case s.ResourceGroup != "":
		return LevelResourceGroup
	}
	return LevelSubscription
}

// String is the scope in ARM's spelling.
func (s Scope) String() string {
	if s.Subscription == "" {
		return "/"
	}
	var b strings.Builder
	b.WriteString("/subscriptions/" + s.Subscription)
	if s.ResourceGroup != "" {
		b.WriteString("/resourceGroups/" + s.ResourceGroup)
	}
	if s.Provider != "" {
		b.WriteString("/providers/" + s.Provider)
		for i := range s.Types {
			b.WriteString("/" + s.Types[i] + "/" + s.Names[i])
		}
	}
	return b.String()
}

// Key is the scope's case-insensitive identity (its String, lower-cased).
func (s Scope) Key() string { return strings.ToLower(s.String()) }

// Ancestors returns the keys of every scope that contains s, outermost
// first, s itself last: "/", the subscription, the resource group, then
// each enclosing resource.
func (s Scope) Ancestors() []string {
	out := []string{"/"}
	if s.Subscription == "" {
		return out
	}
	cur := "/subscriptions/" + s.Subscription
	out = append(out, cur)
	if s.ResourceGroup != "" {
		cur += "/resourcegroups/" + strings.ToLower(s.ResourceGroup)
		out = append(out, cur)
	}
	if s.Provider != "" {
		cur += "/providers/" + strings.ToLower(s.Provider)
		for i := range s.Types {
			cur += "/" + strings.ToLower(s.Types[i]) + "/" + strings.ToLower(s.Names[i])
			out = append(out, cur)
		}
	}
	return out
}

// Contains reports whether s is inner or an ancestor of inner.
func (s Scope) Contains(inner Scope) bool {
	k := s.Key()
	for _, a := range inner.Ancestors() {
		if a == k {
			return true
		}
	}
	return false
}

// HSM returns the name of the managed HSM the scope names, if it names one
// (Microsoft.KeyVault/managedHSMs/{name} in a resource group).
func (s Scope) HSM() (string, bool) {
	if s.ResourceGroup == "" || !strings.EqualFold(s.Provider, "Microsoft.KeyVault") || len(s.Types) != 1 || !strings.EqualFold(s.Types[0], "managedHSMs") {
		return "", false
	}
	return s.Names[0], true
}

// SubscriptionScope returns the scope of subscription sub.
func SubscriptionScope(sub string) Scope { return Scope{Subscription: strings.ToLower(sub)} }

// ResourceGroupScope returns the scope of resource group rg.
func ResourceGroupScope(sub, rg string) Scope {
	return Scope{Subscription: strings.ToLower(sub), ResourceGroup: rg}
}

// HSMScope returns the scope of managed HSM name in resource group rg.
func HSMScope(sub, rg, name string) Scope {
	return Scope{Subscription: strings.ToLower(sub), ResourceGroup: rg, Provider: "Microsoft.KeyVault", Types: []string{"managedHSMs"}, Names: []string{name}}
}
