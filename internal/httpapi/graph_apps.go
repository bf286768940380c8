package httpapi

// Graph handlers of applications, service principals and the mhsm
// extensions (managed identities, external principals); the route table
// and users/groups are in graph_routes.go.

import (
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/token"
)

// --- applications ---

func (s *Server) listApps(g *graphReq) (int, any, error) {
	as, err := s.dir.Applications(g.ctx, g.tid)
	if err != nil {
		return 0, nil, err
	}
	items := make([]gobj, 0, len(as))
	for i := range as {
		items = append(items, appJSON(&as[i]))
	}
	return s.collection(g, "applications", items)
}

func (s *Server) createApp(g *graphReq) (int, any, error) {
	var in struct {
		DisplayName            string `json:"displayName"`
		IsFallbackPublicClient bool   `json:"isFallbackPublicClient"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	a, err := s.dir.CreateApplication(g.ctx, g.tid, in.DisplayName, in.IsFallbackPublicClient)
	if err != nil {
		return 0, nil, err
	}
	return 201, s.entity("applications", appJSON(a)), nil
}

func (s *Server) getApp(g *graphReq) (int, any, error) {
	a, err := s.dir.Application(g.ctx, g.tid, appKey(g.params["id"]))
	if err != nil {
		return 0, nil, err
	}
	return 200, s.entity("applications", appJSON(a)), nil
}

func (s *Server) patchApp(g *graphReq) (int, any, error) {
	var in struct {
		DisplayName            *string `json:"displayName"`
		IsFallbackPublicClient *bool   `json:"isFallbackPublicClient"`
		KeyCredentials         *[]struct {
			KeyID         string     `json:"keyId"`
			DisplayName   string     `json:"displayName"`
			Type          string     `json:"type"`
			Usage         string     `json:"usage"`
			Key           []byte     `json:"key"`
			StartDateTime *time.Time `json:"startDateTime"`
			EndDateTime   *time.Time `json:"endDateTime"`
		} `json:"keyCredentials"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	id := appKey(g.params["id"])
	if _, err := s.dir.Application(g.ctx, g.tid, id); err != nil {
		return 0, nil, err // 404 for an unknown id, whatever the body holds
	}
	if in.DisplayName != nil || in.IsFallbackPublicClient != nil {
		if _, err := s.dir.UpdateApplication(g.ctx, g.tid, id, in.DisplayName, in.IsFallbackPublicClient); err != nil {
			return 0, nil, err
		}
	}
	if in.KeyCredentials != nil {
		var creds []directory.KeyCredential
		for _, k := range *in.KeyCredentials {
			if k.Type != "AsymmetricX509Cert" || (k.Usage != "Verify" && k.Usage != "") {
				return 0, nil, graphBadRequest("Only keyCredentials of type AsymmetricX509Cert with usage Verify are supported.")
			}
			c := directory.KeyCredential{KeyID: k.KeyID, DisplayName: k.DisplayName, Cert: k.Key}
			if k.StartDateTime != nil {
				c.Start = *k.StartDateTime
			}
			if k.EndDateTime != nil {
				c.End = *k.EndDateTime
			}
			creds = append(creds, c)
		}
		if _, err := s.dir.SetCertificates(g.ctx, g.tid, id, creds); err != nil {
			return 0, nil, err
		}
	}
	return 204, nil, nil
}

func (s *Server) deleteApp(g *graphReq) (int, any, error) {
	return 204, nil, s.dir.DeleteApplication(g.ctx, g.tid, appKey(g.params["id"]))
}

func (s *Server) addPassword(g *graphReq) (int, any, error) {
	var in struct {
		PasswordCredential struct {
			DisplayName string     `json:"displayName"`
			EndDateTime *time.Time `json:"endDateTime"`
		} `json:"passwordCredential"`
	}
	if len(strings.TrimSpace(string(g.body))) > 0 {
		if err := g.decode(&in); err != nil {
			return 0, nil, err
		}
	}
	var end time.Time
	if in.PasswordCredential.EndDateTime != nil {
		end = *in.PasswordCredential.EndDateTime
	}
	pc, secret, err := s.dir.AddPassword(g.ctx, g.tid, appKey(g.params["id"]), in.PasswordCredential.DisplayName, end)
	if err != nil {
		return 0, nil, err
	}
	o := passwordJSON(pc, secret)
	o["@odata.context"] = s.cfg.URL("graph") + "/v1.0/$metadata#microsoft.graph.passwordCredential"
	return 200, o, nil
}

func (s *Server) removePassword(g *graphReq) (int, any, error) {
	var in struct {
		KeyID string `json:"keyId"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	return 204, nil, s.dir.RemovePassword(g.ctx, g.tid, appKey(g.params["id"]), in.KeyID)
}

func (s *Server) listFederated(g *graphReq) (int, any, error) {
	a, err := s.dir.Application(g.ctx, g.tid, appKey(g.params["id"]))
	if err != nil {
		return 0, nil, err
	}
	items := make([]gobj, 0, len(a.FederatedCredentials))
	for i := range a.FederatedCredentials {
		items = append(items, fedJSON(&a.FederatedCredentials[i]))
	}
	return s.collection(g, "applications('"+a.ID+"')/federatedIdentityCredentials", items)
}

func (s *Server) addFederated(g *graphReq) (int, any, error) {
	var in struct {
		Name        string   `json:"name"`
		Issuer      string   `json:"issuer"`
		Subject     string   `json:"subject"`
		Audiences   []string `json:"audiences"`
		Description string   `json:"description"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	fc, err := s.dir.AddFederatedCredential(g.ctx, g.tid, appKey(g.params["id"]), directory.FederatedCredential{
		Name: in.Name, Issuer: in.Issuer, Subject: in.Subject, Audiences: in.Audiences, Description: in.Description})
	if err != nil {
		return 0, nil, err
	}
	return 201, fedJSON(fc), nil
}

func (s *Server) removeFederated(g *graphReq) (int, any, error) {
	return 204, nil, s.dir.RemoveFederatedCredential(g.ctx, g.tid, appKey(g.params["id"]), g.params["fid"])
}

// --- service principals ---

func (s *Server) listSPs(g *graphReq) (int, any, error) {
	sps, err := s.dir.ServicePrincipals(g.ctx, g.tid)
	if err != nil {
		return 0, nil, err
	}
	items := make([]gobj, 0, len(sps))
	for i := range sps {
		items = append(items, spJSON(&sps[i]))
	}
	return s.collection(g, "servicePrincipals", items)
}

func (s *Server) createSP(g *graphReq) (int, any, error) {
	var in struct {
		AppID string `json:"appId"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	sp, err := s.dir.CreateServicePrincipalFor(g.ctx, g.tid, in.AppID)
	if err != nil {
		return 0, nil, err
	}
	return 201, s.entity("servicePrincipals", spJSON(sp)), nil
}

func (s *Server) getSP(g *graphReq) (int, any, error) {
	sp, err := s.dir.ServicePrincipal(g.ctx, g.tid, appKey(g.params["id"]))
	if err != nil {
		return 0, nil, err
	}
	return 200, s.entity("servicePrincipals", spJSON(sp)), nil
}

func (s *Server) patchSP(g *graphReq) (int, any, error) {
	var in struct {
		AccountEnabled *bool `json:"accountEnabled"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	if _, err := s.dir.ServicePrincipal(g.ctx, g.tid, appKey(g.params["id"])); err != nil {
		return 0, nil, err // 404 for an unknown id, whatever the body holds
	}
	if in.AccountEnabled != nil {
		if _, err := s.dir.SetServicePrincipalEnabled(g.ctx, g.tid, appKey(g.params["id"]), *in.AccountEnabled); err != nil {
			return 0, nil, err
		}
	}
	return 204, nil, nil
}

func (s *Server) deleteSP(g *graphReq) (int, any, error) {
	return 204, nil, s.dir.DeleteServicePrincipal(g.ctx, g.tid, appKey(g.params["id"]))
}

// --- managed identities (mhsm extension) ---

func (s *Server) listIdentities(g *graphReq) (int, any, error) {
	ms, err := s.dir.Identities(g.ctx, g.tid)
	if err != nil {
		return 0, nil, err
	}
	items := make([]gobj, 0, len(ms))
	for i := range ms {
		items = append(items, identityJSON(&ms[i]))
	}
	items, err = applyFilter(g.query.Get("$filter"), items)
	if err != nil {
		return 0, nil, err
	}
	if items == nil {
		items = []gobj{}
	}
	return 200, gobj{"value": items}, nil
}

func (s *Server) createIdentity(g *graphReq) (int, any, error) {
	var in struct {
		Name string `json:"name"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	mi, header, err := s.dir.CreateIdentity(g.ctx, g.tid, in.Name)
	if err != nil {
		return 0, nil, err
	}
	o := identityJSON(mi)
	o["identityHeader"] = header
	return 201, o, nil
}

func (s *Server) getIdentity(g *graphReq) (int, any, error) {
	mi, err := s.dir.Identity(g.ctx, g.tid, g.params["name"])
	if err != nil {
		return 0, nil, err
	}
	return 200, identityJSON(mi), nil
}

func (s *Server) deleteIdentity(g *graphReq) (int, any, error) {
	return 204, nil, s.dir.DeleteIdentity(g.ctx, g.tid, g.params["name"])
}

func (s *Server) resetIdentityHeader(g *graphReq) (int, any, error) {
	h, err := s.dir.ResetIdentityHeader(g.ctx, g.tid, g.params["name"])
	if err != nil {
		return 0, nil, err
	}
	return 200, gobj{"identityHeader": h}, nil
}

// --- external principal references (mhsm extension) ---

func (s *Server) listExternals(g *graphReq) (int, any, error) {
	ps, err := s.dir.ExternalPrincipals(g.ctx, g.tid)
	if err != nil {
		return 0, nil, err
	}
	items := make([]gobj, 0, len(ps))
	for i := range ps {
		items = append(items, externalJSON(&ps[i]))
	}
	return s.collection(g, "directoryObjects", items)
}

// addExternal records a principal of a configured external issuer: by
// iss+sub (its id is token.ExternalObjectID) or by the issuer's own
// immutable object id.
func (s *Server) addExternal(g *graphReq) (int, any, error) {
	var in struct {
		Issuer      string `json:"issuer"`
		Subject     string `json:"subject"`
		ObjectID    string `json:"objectId"`
		DisplayName string `json:"displayName"`
		ObjectType  string `json:"objectType"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	if !s.verifier.HasExternal(in.Issuer) {
		return 0, nil, graphBadRequest("The issuer is not a configured external issuer.")
	}
	id := in.ObjectID
	if (id == "") == (in.Subject == "") {
		return 0, nil, graphBadRequest("Give exactly one of subject and objectId.")
	}
	if id == "" {
		id = token.ExternalObjectID(in.Issuer, in.Subject)
	}
	p, err := s.dir.AddExternalPrincipal(g.ctx, g.tid, directory.ExternalPrincipal{ID: id, Issuer: in.Issuer, Subject: in.Subject,
		DisplayName: in.DisplayName, Type: in.ObjectType})
	if err != nil {
		return 0, nil, err
	}
	return 201, externalJSON(p), nil
}

func (s *Server) deleteExternal(g *graphReq) (int, any, error) {
	return 204, nil, s.dir.DeleteExternalPrincipal(g.ctx, g.tid, g.params["id"])
}
