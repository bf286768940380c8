package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/directory"
)

// Graph JSON shapes. Every object carries @odata.type so that the SDKs
// pick the right type in directoryObject collections.

type gobj = map[string]any

func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func userJSON(u *directory.User) gobj {
	return gobj{"@odata.type": "#microsoft.graph.user", "id": u.ID, "userPrincipalName": u.UserPrincipalName,
		"displayName": u.DisplayName, "mailNickname": u.MailNickname, "givenName": nilIfEmpty(u.GivenName),
		"surname": nilIfEmpty(u.Surname), "accountEnabled": u.AccountEnabled, "mail": nil,
		"createdDateTime": graphTime(u.Created)}
}

func groupJSON(g *directory.Group) gobj {
	return gobj{"@odata.type": "#microsoft.graph.group", "id": g.ID, "displayName": g.DisplayName,
		"description": nilIfEmpty(g.Description), "mailNickname": g.MailNickname, "securityEnabled": g.SecurityEnabled,
		"mailEnabled": false, "groupTypes": []string{}, "createdDateTime": graphTime(g.Created)}
}

func appJSON(a *directory.Application) gobj {
	pcs := make([]gobj, 0, len(a.PasswordCredentials))
	for _, p := range a.PasswordCredentials {
		pcs = append(pcs, passwordJSON(&p, ""))
	}
	kcs := make([]gobj, 0, len(a.KeyCredentials))
	for _, k := range a.KeyCredentials {
		kcs = append(kcs, gobj{"keyId": k.KeyID, "displayName": nilIfEmpty(k.DisplayName), "type": k.Type, "usage": k.Usage,
			"customKeyIdentifier": base64.StdEncoding.EncodeToString(k.Thumbprint), "key": nil,
			"startDateTime": graphTime(k.Start), "endDateTime": graphTime(k.End)})
	}
	return gobj{"@odata.type": "#microsoft.graph.application", "id": a.ID, "appId": a.AppID, "displayName": a.DisplayName,
		"isFallbackPublicClient": a.IsFallbackPublicClient, "signInAudience": "AzureADMyOrg",
		"passwordCredentials": pcs, "keyCredentials": kcs, "createdDateTime": graphTime(a.Created)}
}

func passwordJSON(p *directory.PasswordCredential, secret string) gobj {
	o := gobj{"keyId": p.KeyID, "displayName": nilIfEmpty(p.DisplayName), "hint": p.Hint, "customKeyIdentifier": nil,
		"startDateTime": graphTime(p.Start), "endDateTime": graphTime(p.End), "secretText": nil}
	if secret != "" {
		o["secretText"] = secret
	}
	return o
}

func fedJSON(f *directory.FederatedCredential) gobj {
	return gobj{"id": f.ID, "name": f.Name, "issuer": f.Issuer, "subject": f.Subject, "audiences": f.Audiences,
		"description": nilIfEmpty(f.Description)}
}

func spJSON(sp *directory.ServicePrincipal) gobj {
	o := gobj{"@odata.type": "#microsoft.graph.servicePrincipal", "id": sp.ObjectID, "appId": sp.AppID,
		"displayName": sp.DisplayName, "accountEnabled": sp.Enabled, "servicePrincipalType": sp.Type,
		"appOwnerOrganizationId": sp.TenantID, "servicePrincipalNames": []string{sp.AppID},
		"createdDateTime": graphTime(sp.Created)}
	return o
}

func identityJSON(mi *directory.ManagedIdentity) gobj {
	return gobj{"name": mi.Name, "tenantId": mi.TenantID, "clientId": mi.ClientID, "principalId": mi.PrincipalID,
		"createdDateTime": graphTime(mi.Created)}
}

func objectJSON(o directory.Object) gobj {
	switch {
	case o.User != nil:
		return userJSON(o.User)
	case o.Group != nil:
		return groupJSON(o.Group)
	case o.Application != nil:
		return appJSON(o.Application)
	case o.ServicePrincipal != nil:
		return spJSON(o.ServicePrincipal)
	case o.External != nil:
		return externalJSON(o.External)
	}
	return gobj{}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// collection is Graph's collection body after $filter and $top.
func (s *Server) collection(g *graphReq, ctxPath string, items []gobj) (int, any, error) {
	items, err := applyFilter(g.query.Get("$filter"), items)
	if err != nil {
		return 0, nil, err
	}
	if top := g.query.Get("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 || n > 999 {
			return 0, nil, graphBadRequest("$top must be 1 to 999.")
		}
		if len(items) > n {
			items = items[:n]
		}
	}
	if items == nil {
		items = []gobj{}
	}
	out := gobj{"@odata.context": s.cfg.URL("graph") + "/v1.0/$metadata#" + ctxPath, "value": items}
	if g.query.Get("$count") == "true" {
		out["@odata.count"] = len(items)
	}
	return 200, out, nil
}

// entity adds @odata.context to a single object.
func (s *Server) entity(ctxPath string, o gobj) gobj {
	o["@odata.context"] = s.cfg.URL("graph") + "/v1.0/$metadata#" + ctxPath + "/$entity"
	return o
}

// A $filter is clauses joined by "and": prop eq 'v', prop eq true|false,
// startswith(prop,'v'), and on a collection property the lambda
// prop/any(x:x eq 'v') (az ad sp show --id <appId> and az role assignment
// create --assignee <appId> look service principals up with
// servicePrincipalNames/any(c:c eq '<appId>')). String comparisons ignore
// case, as Graph's do.
var (
	eqClause         = regexp.MustCompile(`^(\w+) eq (?:'((?:[^']|'')*)'|(true|false))$`)
	startsWithClause = regexp.MustCompile(`^startswith\((\w+), ?'((?:[^']|'')*)'\)$`)
	anyEqClause      = regexp.MustCompile(`^(\w+)/any\((\w+): ?(\w+) eq '((?:[^']|'')*)'\)$`)
	filterable       = map[string]bool{"displayName": true, "userPrincipalName": true, "appId": true, "id": true,
		"mailNickname": true, "servicePrincipalType": true, "accountEnabled": true, "securityEnabled": true}
	filterableAny = map[string]bool{"servicePrincipalNames": true, "identifierUris": true}
)

type filterClause struct {
	prop, value string
	prefix      bool
	any         bool // prop is a collection; one element must equal value
}

func parseFilter(f string) ([]filterClause, error) {
	if len(f) > 2048 {
		return nil, graphBadRequest("The $filter is too long.")
	}
	var out []filterClause
	for _, part := range strings.Split(f, " and ") {
		part = strings.TrimSpace(part)
		var c filterClause
		if m := eqClause.FindStringSubmatch(part); m != nil {
			c = filterClause{prop: m[1], value: strings.ReplaceAll(m[2], "''", "'") + m[3]}
		} else if m := startsWithClause.FindStringSubmatch(part); m != nil {
			c = filterClause{prop: m[1], value: strings.ReplaceAll(m[2], "''", "'"), prefix: true}
		} else if m := anyEqClause.FindStringSubmatch(part); m != nil && m[2] == m[3] {
			c = filterClause{prop: m[1], value: strings.ReplaceAll(m[4], "''", "'"), any: true}
		} else {
			return nil, graphError("Request_UnsupportedQuery", "Unsupported query: use prop eq 'value', startswith(prop,'value') or prop/any(x:x eq 'value'), joined by and.")
		}
		if c.any != filterableAny[c.prop] || !c.any && !filterable[c.prop] {
			return nil, graphError("Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified for property %s.", quoteSafe(c.prop)))
		}
		out = append(out, c)
	}
	return out, nil
}

func applyFilter(f string, items []gobj) ([]gobj, error) {
	if f == "" {
		return items, nil
	}
	clauses, err := parseFilter(f)
	if err != nil {
		return nil, err
	}
	var out []gobj
	for _, it := range items {
		ok := true
		for _, c := range clauses {
			v, present := it[c.prop]
			if !present {
				ok = false
				break
			}
			if c.any {
				ok = ok && anyEqual(v, c.value)
				continue
			}
			s := fmt.Sprint(v)
			if c.prefix {
				ok = ok && strings.HasPrefix(strings.ToLower(s), strings.ToLower(c.value))
			} else {
				ok = ok && strings.EqualFold(s, c.value)
			}
		}
		if ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// anyEqual reports whether the collection v has an element equal to want
// (ignoring case).
func anyEqual(v any, want string) bool {
	switch vs := v.(type) {
	case []string:
		for _, e := range vs {
			if strings.EqualFold(e, want) {
				return true
			}
		}
	case []any:
		for _, e := range vs {
			if s, ok := e.(string); ok && strings.EqualFold(s, want) {
				return true
			}
		}
	}
	return false
}

func externalJSON(p *directory.ExternalPrincipal) gobj {
	return gobj{"@odata.type": "#microsoft.graph.directoryObjectPartnerReference", "id": p.ID, "displayName": p.DisplayName,
		"objectType": p.Type, "issuer": p.Issuer, "subject": nilIfEmpty(p.Subject), "createdDateTime": graphTime(p.Created)}
}

// graphError is a 400 with a Graph error code.
func graphError(code, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: msg}
}
