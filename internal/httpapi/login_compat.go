package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// Endpoints of login.<domain> that MSAL calls before any token request:
// instance discovery (every MSAL asks login.microsoftonline.com for it
// unless the app turns it off) and the user realm of a username/password
// sign-in. Their shapes are Entra's; see reference/clients.md, "MSAL
// details confirmed with unmodified clients".

// cloudAudienceURN is Entra's cloud_audience_urn of the public cloud.
const cloudAudienceURN = "urn:federation:MicrosoftOnline"

// loginHost is the host[:port] of login.<domain> as clients name it.
func (s *Server) loginHost() string {
	return strings.TrimPrefix(s.cfg.URL("login"), "https://")
}

// cloudInstanceName is the login host without its first label and port
// ("microsoftonline.com" for login.microsoftonline.com).
func (s *Server) cloudInstanceName() string {
	h := s.loginHost()
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	_, rest, _ := strings.Cut(h, ".")
	return rest
}

// instanceDiscovery answers GET /common/discovery/instance: the tenant
// discovery endpoint of the authority named by authorization_endpoint, and
// this login host as its only alias.
func (s *Server) instanceDiscovery(l *loginReq) (int, any, error) {
	tenant := l.params["tenant"]
	if ae, err := url.Parse(l.r.URL.Query().Get("authorization_endpoint")); err == nil {
		if seg, _, _ := strings.Cut(strings.TrimPrefix(ae.Path, "/"), "/"); seg != "" {
			tenant = seg
		}
	}
	if strings.ContainsAny(tenant, "?#%") || len(tenant) > 256 {
		return 0, nil, oauthErr(http.StatusBadRequest, "invalid_instance", "AADSTS50049: Unknown or invalid instance.")
	}
	host := s.loginHost()
	return http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": s.cfg.URL("login") + "/" + url.PathEscape(tenant) + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host, "preferred_cache": host, "aliases": []string{host},
		}},
	}, nil
}

// userRealm answers GET /common/UserRealm/{upn} (any case of "userrealm";
// MSAL Go sends UserRealm, MSAL Python userrealm): "Managed" with the
// domain for a UPN whose domain is a tenant's, as Entra does for
// cloud-only users; "Unknown" otherwise. Any other three-segment path is
// unknown (404 as net/http words it).
func (s *Server) userRealm(l *loginReq) (int, any, error) {
	if !strings.EqualFold(l.params["realm"], "userrealm") {
		return 0, nil, &apiError{Status: http.StatusNotFound, Message: "404 page not found"}
	}
	out := map[string]any{"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": s.cloudInstanceName(),
		"cloud_audience_urn": cloudAudienceURN}
	if _, domain, ok := strings.Cut(l.params["upn"], "@"); ok && domain != "" {
		if _, err := s.dir.TenantOfDomain(l.r.Context(), strings.ToLower(domain)); err == nil {
			out["account_type"], out["domain_name"] = "Managed", strings.ToLower(domain)
		}
	}
	return http.StatusOK, out, nil
}

// oidcScopes are the scopes MSAL adds to every request; they are not
// resource permissions and are not echoed.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true}

// grantedScope is the scope of a user token response: the resource's
// user_impersonation and every requested resource scope verbatim, since
// MSAL Go refuses a response that lacks one it asked for ("declined
// scopes are present").
func grantedScope(requested, audience string) string {
	out := []string{audience + "/user_impersonation"}
	for _, sc := range strings.Fields(requested) {
		if !oidcScopes[strings.ToLower(sc)] && !strings.EqualFold(sc, out[0]) {
			out = append(out, sc)
		}
	}
	return strings.Join(out, " ")
}

// azureManagementAlias is the classic resource id of Azure Resource
// Manager, which az and other older clients ask tokens for.
const azureManagementAlias = "https://management.core.windows.net"

// aliasAudience maps resource ids Azure accepts besides the endpoint URL
// (only in Azure-hostnames mode): management.core.windows.net is ARM.
func (s *Server) aliasAudience(res string) (string, bool) {
	if s.cfg.AzureHostnames && strings.EqualFold(res, azureManagementAlias) {
		return s.cfg.URL("management"), true
	}
	return "", false
}
