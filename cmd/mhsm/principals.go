package main

import (
	"context"
	"strings"

	"github.com/mhsm/mhsm/internal/client"
)

// principal is how a role assignment names its principal, as az prints it:
// principalName (a user's UPN, else the display name of the group, service
// principal or managed identity) and principalType (User, Group,
// ServicePrincipal).
type principal struct{ name, kind string }

// lookupPrincipals names object ids through Graph's getByIds, as the
// session's principal. Ids the directory does not return (deleted objects,
// or a caller who may not read the directory) are left out: the caller
// prints them without a name, as az does.
func lookupPrincipals(ctx context.Context, s *client.Session, ids []string) map[string]principal {
	out := map[string]principal{}
	var uniq []string
	seen := map[string]bool{}
	for _, id := range ids {
		if id != "" && !seen[strings.ToLower(id)] {
			seen[strings.ToLower(id)] = true
			uniq = append(uniq, id)
		}
	}
	for len(uniq) > 0 {
		batch := uniq[:min(len(uniq), 1000)]
		uniq = uniq[len(batch):]
		var r struct {
			Value []map[string]any `json:"value"`
		}
		if err := s.Graph(ctx, "POST", "/v1.0/directoryObjects/getByIds", map[string]any{"ids": batch}, &r); err != nil {
			return out
		}
		for _, o := range r.Value {
			id, _ := o["id"].(string)
			typ, _ := o["@odata.type"].(string)
			p := principal{}
			switch strings.TrimPrefix(typ, "#microsoft.graph.") {
			case "user":
				p.kind = "User"
				p.name, _ = o["userPrincipalName"].(string)
			case "group":
				p.kind = "Group"
			case "servicePrincipal":
				p.kind = "ServicePrincipal"
			default:
				p.kind = strings.TrimPrefix(typ, "#microsoft.graph.")
			}
			if p.name == "" {
				p.name, _ = o["displayName"].(string)
			}
			out[strings.ToLower(id)] = p
		}
	}
	return out
}
