package mgmt

import (
	"context"
	"net/netip"
	"strings"

	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// NetworkRules is an HSM's compiled network policy, from its
// publicNetworkAccess and networkAcls properties.
type NetworkRules struct {
	PublicAccessDisabled bool
	DefaultDeny          bool
	Allowed              []netip.Prefix
	Location             string
}

// NetworkDenial says why a client address may not reach an HSM's data
// plane: public access is disabled (mhsm has no private endpoints, so
// nothing reaches it), or the firewall's default action is Deny and no IP
// rule matches.
type NetworkDenial struct {
	Disabled bool
	Location string
}

// CheckNetwork reports whether clientIP may reach the data plane of HSM
// name: nil when it may. HSMs with no management resource (created outside
// ARM) have no network rules.
func (s *Service) CheckNetwork(name, clientIP string) *NetworkDenial {
	m := s.network.Load()
	if m == nil {
		return nil
	}
	r := (*m)[strings.ToLower(name)]
	if r == nil {
		return nil
	}
	return r.check(clientIP)
}

func (r *NetworkRules) check(clientIP string) *NetworkDenial {
	if r.PublicAccessDisabled {
		return &NetworkDenial{Disabled: true, Location: r.Location}
	}
	if !r.DefaultDeny {
		return nil
	}
	addr, err := netip.ParseAddr(clientIP)
	if err == nil {
		addr = addr.Unmap()
		for _, p := range r.Allowed {
			if p.Contains(addr) {
				return nil
			}
		}
	}
	return &NetworkDenial{Location: r.Location}
}

// parseIPRule accepts an IPv4 address or CIDR range ("1.2.3.4",
// "10.0.0.0/24"), as Azure's firewall rules do.
func parseIPRule(v string) (netip.Prefix, bool) {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "/") {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, 32), true
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// checkNetworkProps validates and normalises publicNetworkAccess and
// networkAcls in place.
func checkNetworkProps(access *string, acls *wire.MHSMNetworkRuleSet) error {
	switch {
	case *access == "" || strings.EqualFold(*access, "Enabled"):
		*access = "Enabled"
	case strings.EqualFold(*access, "Disabled"):
		*access = "Disabled"
	default:
		return badRequest("BadRequest", "publicNetworkAccess must be Enabled or Disabled.")
	}
	switch {
	case acls.DefaultAction == "" || strings.EqualFold(acls.DefaultAction, "Allow"):
		acls.DefaultAction = "Allow"
	case strings.EqualFold(acls.DefaultAction, "Deny"):
		acls.DefaultAction = "Deny"
	default:
		return badRequest("BadRequest", "networkAcls.defaultAction must be Allow or Deny.")
	}
	switch {
	case acls.Bypass == "" || strings.EqualFold(acls.Bypass, "AzureServices"):
		acls.Bypass = "AzureServices"
	case strings.EqualFold(acls.Bypass, "None"):
		acls.Bypass = "None"
	default:
		return badRequest("BadRequest", "networkAcls.bypass must be AzureServices or None.")
	}
	if len(acls.IPRules) > 1000 {
		return badRequest("BadRequest", "networkAcls allows at most 1000 IP rules.")
	}
	for i, r := range acls.IPRules {
		p, ok := parseIPRule(r.Value)
		if !ok {
			return badRequest("BadRequest", "networkAcls.ipRules[%d] %q is not an IPv4 address or CIDR range.", i, r.Value)
		}
		if strings.Contains(r.Value, "/") {
			acls.IPRules[i].Value = p.String()
		} else {
			acls.IPRules[i].Value = p.Addr().String()
		}
	}
	return nil
}

func compileNetwork(r *hsmResource) *NetworkRules {
	n := &NetworkRules{PublicAccessDisabled: r.PublicNetworkAccess == "Disabled", DefaultDeny: r.NetworkACLs.DefaultAction == "Deny", Location: r.Location}
	for _, ip := range r.NetworkACLs.IPRules {
		if p, ok := parseIPRule(ip.Value); ok {
			n.Allowed = append(n.Allowed, p)
		}
	}
	return n
}

// reloadNetwork rebuilds the network snapshot from every HSM resource.
func (s *Service) reloadNetwork(ctx context.Context) error {
	var rs []hsmResource
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		rs, err = store.ListJSON[hsmResource](tx, "mgmt/hsm/")
		return err
	}); err != nil {
		return err
	}
	m := make(map[string]*NetworkRules, len(rs))
	for i := range rs {
		m[strings.ToLower(rs[i].Name)] = compileNetwork(&rs[i])
	}
	s.network.Store(&m)
	return nil
}
