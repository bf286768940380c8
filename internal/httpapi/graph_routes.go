package httpapi

import (
	"context"
	"errors"
	"strings"

	"github.com/mhsm/mhsm/internal/directory"
)

// graphRoute is one Graph operation, declared as data. Write routes need
// the tenant administrator role; the others any principal of the tenant.
type graphRoute struct {
	Method  string
	Pattern string
	// Operation names the operation in audit records.
	Operation string
	Write     bool
	Handle    func(*Server, *graphReq) (int, any, error)
}

// graphRouteSpec is the router's view of a graphRoute.
func graphRouteSpec(r *graphRoute) (string, string) { return r.Method, r.Pattern }

// graphRoutes is the Graph route table (read-only).
var graphRoutes = []graphRoute{
	{Method: "GET", Pattern: "/v1.0/users", Operation: "UserList", Handle: (*Server).listUsers},
	{Method: "POST", Pattern: "/v1.0/users", Operation: "UserCreate", Write: true, Handle: (*Server).createUser},
	{Method: "GET", Pattern: "/v1.0/users/{id}", Operation: "UserGet", Handle: (*Server).getUser},
	{Method: "PATCH", Pattern: "/v1.0/users/{id}", Operation: "UserUpdate", Write: true, Handle: (*Server).patchUser},
	{Method: "DELETE", Pattern: "/v1.0/users/{id}", Operation: "UserDelete", Write: true, Handle: (*Server).deleteUser},

	{Method: "GET", Pattern: "/v1.0/groups", Operation: "GroupList", Handle: (*Server).listGroups},
	{Method: "POST", Pattern: "/v1.0/groups", Operation: "GroupCreate", Write: true, Handle: (*Server).createGroup},
	{Method: "GET", Pattern: "/v1.0/groups/{id}", Operation: "GroupGet", Handle: (*Server).getGroup},
	{Method: "PATCH", Pattern: "/v1.0/groups/{id}", Operation: "GroupUpdate", Write: true, Handle: (*Server).patchGroup},
	{Method: "DELETE", Pattern: "/v1.0/groups/{id}", Operation: "GroupDelete", Write: true, Handle: (*Server).deleteGroup},
	{Method: "GET", Pattern: "/v1.0/groups/{id}/members", Operation: "GroupMemberList", Handle: (*Server).groupMembers},
	{Method: "GET", Pattern: "/v1.0/groups/{id}/transitiveMembers", Operation: "GroupTransitiveMemberList", Handle: (*Server).groupTransitiveMembers},
	{Method: "POST", Pattern: "/v1.0/groups/{id}/members/$ref", Operation: "GroupMemberAdd", Write: true, Handle: (*Server).addMember},
	{Method: "DELETE", Pattern: "/v1.0/groups/{id}/members/{member}/$ref", Operation: "GroupMemberRemove", Write: true, Handle: (*Server).removeMember},

	{Method: "GET", Pattern: "/v1.0/applications", Operation: "ApplicationList", Handle: (*Server).listApps},
	{Method: "POST", Pattern: "/v1.0/applications", Operation: "ApplicationCreate", Write: true, Handle: (*Server).createApp},
	{Method: "GET", Pattern: "/v1.0/applications/{id}", Operation: "ApplicationGet", Handle: (*Server).getApp},
	{Method: "PATCH", Pattern: "/v1.0/applications/{id}", Operation: "ApplicationUpdate", Write: true, Handle: (*Server).patchApp},
	{Method: "DELETE", Pattern: "/v1.0/applications/{id}", Operation: "ApplicationDelete", Write: true, Handle: (*Server).deleteApp},
	{Method: "POST", Pattern: "/v1.0/applications/{id}/addPassword", Operation: "ApplicationPasswordAdd", Write: true, Handle: (*Server).addPassword},
	{Method: "POST", Pattern: "/v1.0/applications/{id}/removePassword", Operation: "ApplicationPasswordRemove", Write: true, Handle: (*Server).removePassword},
	{Method: "GET", Pattern: "/v1.0/applications/{id}/federatedIdentityCredentials", Operation: "FederatedCredentialList", Handle: (*Server).listFederated},
	{Method: "POST", Pattern: "/v1.0/applications/{id}/federatedIdentityCredentials", Operation: "FederatedCredentialAdd", Write: true, Handle: (*Server).addFederated},
	{Method: "DELETE", Pattern: "/v1.0/applications/{id}/federatedIdentityCredentials/{fid}", Operation: "FederatedCredentialRemove", Write: true, Handle: (*Server).removeFederated},

	{Method: "GET", Pattern: "/v1.0/servicePrincipals", Operation: "ServicePrincipalList", Handle: (*Server).listSPs},
	{Method: "POST", Pattern: "/v1.0/servicePrincipals", Operation: "ServicePrincipalCreate", Write: true, Handle: (*Server).createSP},
	{Method: "GET", Pattern: "/v1.0/servicePrincipals/{id}", Operation: "ServicePrincipalGet", Handle: (*Server).getSP},
	{Method: "PATCH", Pattern: "/v1.0/servicePrincipals/{id}", Operation: "ServicePrincipalUpdate", Write: true, Handle: (*Server).patchSP},
	{Method: "DELETE", Pattern: "/v1.0/servicePrincipals/{id}", Operation: "ServicePrincipalDelete", Write: true, Handle: (*Server).deleteSP},

	{Method: "POST", Pattern: "/v1.0/directoryObjects/getByIds", Operation: "DirectoryObjectGetByIds", Handle: (*Server).getByIds},
	{Method: "GET", Pattern: "/v1.0/directoryObjects/{id}", Operation: "DirectoryObjectGet", Handle: (*Server).getObject},
	{Method: "GET", Pattern: "/v1.0/{kind}/{id}/memberOf", Operation: "MemberOfList", Handle: (*Server).memberOf},
	{Method: "GET", Pattern: "/v1.0/{kind}/{id}/transitiveMemberOf", Operation: "TransitiveMemberOfList", Handle: (*Server).transitiveMemberOf},
	{Method: "POST", Pattern: "/v1.0/{kind}/{id}/getMemberObjects", Operation: "MemberObjectsGet", Handle: (*Server).getMemberObjects},
	{Method: "POST", Pattern: "/v1.0/{kind}/{id}/getMemberGroups", Operation: "MemberGroupsGet", Handle: (*Server).getMemberObjects},

	{Method: "GET", Pattern: "/mhsm/managedIdentities", Operation: "ManagedIdentityList", Handle: (*Server).listIdentities},
	{Method: "POST", Pattern: "/mhsm/managedIdentities", Operation: "ManagedIdentityCreate", Write: true, Handle: (*Server).createIdentity},
	{Method: "GET", Pattern: "/mhsm/managedIdentities/{name}", Operation: "ManagedIdentityGet", Handle: (*Server).getIdentity},
	{Method: "DELETE", Pattern: "/mhsm/managedIdentities/{name}", Operation: "ManagedIdentityDelete", Write: true, Handle: (*Server).deleteIdentity},
	{Method: "POST", Pattern: "/mhsm/managedIdentities/{name}/resetHeader", Operation: "ManagedIdentityHeaderReset", Write: true, Handle: (*Server).resetIdentityHeader},

	{Method: "GET", Pattern: "/mhsm/externalPrincipals", Operation: "ExternalPrincipalList", Handle: (*Server).listExternals},
	{Method: "POST", Pattern: "/mhsm/externalPrincipals", Operation: "ExternalPrincipalAdd", Write: true, Handle: (*Server).addExternal},
	{Method: "DELETE", Pattern: "/mhsm/externalPrincipals/{id}", Operation: "ExternalPrincipalDelete", Write: true, Handle: (*Server).deleteExternal},
}

// appKey resolves an {id} segment that may be an alternate key
// "appId:<client id>".
func appKey(id string) string { return strings.TrimPrefix(id, "appId:") }

// --- users ---

func (s *Server) listUsers(g *graphReq) (int, any, error) {
	us, err := s.dir.Users(g.ctx, g.tid)
	if err != nil {
		return 0, nil, err
	}
	items := make([]gobj, 0, len(us))
	for i := range us {
		items = append(items, userJSON(&us[i]))
	}
	return s.collection(g, "users", items)
}

func (s *Server) createUser(g *graphReq) (int, any, error) {
	var in struct {
		AccountEnabled    *bool  `json:"accountEnabled"`
		DisplayName       string `json:"displayName"`
		MailNickname      string `json:"mailNickname"`
		UserPrincipalName string `json:"userPrincipalName"`
		GivenName         string `json:"givenName"`
		Surname           string `json:"surname"`
		PasswordProfile   struct {
			Password string `json:"password"`
		} `json:"passwordProfile"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	enabled := in.AccountEnabled == nil || *in.AccountEnabled
	u, err := s.dir.CreateUser(g.ctx, g.tid, directory.NewUser{UserPrincipalName: in.UserPrincipalName, DisplayName: in.DisplayName,
		MailNickname: in.MailNickname, GivenName: in.GivenName, Surname: in.Surname, Password: in.PasswordProfile.Password, AccountEnabled: enabled})
	if err != nil {
		return 0, nil, err
	}
	return 201, s.entity("users", userJSON(u)), nil
}

func (s *Server) getUser(g *graphReq) (int, any, error) {
	u, err := s.dir.User(g.ctx, g.tid, g.params["id"])
	if err != nil {
		return 0, nil, err
	}
	return 200, s.entity("users", userJSON(u)), nil
}

func (s *Server) patchUser(g *graphReq) (int, any, error) {
	var in struct {
		DisplayName     *string `json:"displayName"`
		GivenName       *string `json:"givenName"`
		Surname         *string `json:"surname"`
		AccountEnabled  *bool   `json:"accountEnabled"`
		PasswordProfile *struct {
			Password string `json:"password"`
		} `json:"passwordProfile"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	p := directory.UserPatch{DisplayName: in.DisplayName, GivenName: in.GivenName, Surname: in.Surname, AccountEnabled: in.AccountEnabled}
	if in.PasswordProfile != nil {
		p.Password = &in.PasswordProfile.Password
	}
	if _, err := s.dir.UpdateUser(g.ctx, g.tid, g.params["id"], p); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) deleteUser(g *graphReq) (int, any, error) {
	return 204, nil, s.dir.DeleteUser(g.ctx, g.tid, g.params["id"])
}

// --- groups ---

func (s *Server) listGroups(g *graphReq) (int, any, error) {
	gs, err := s.dir.Groups(g.ctx, g.tid)
	if err != nil {
		return 0, nil, err
	}
	items := make([]gobj, 0, len(gs))
	for i := range gs {
		items = append(items, groupJSON(&gs[i]))
	}
	return s.collection(g, "groups", items)
}

func (s *Server) createGroup(g *graphReq) (int, any, error) {
	var in struct {
		DisplayName     string   `json:"displayName"`
		Description     string   `json:"description"`
		MailNickname    string   `json:"mailNickname"`
		MailEnabled     bool     `json:"mailEnabled"`
		SecurityEnabled *bool    `json:"securityEnabled"`
		GroupTypes      []string `json:"groupTypes"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.MailEnabled || len(in.GroupTypes) > 0 || (in.SecurityEnabled != nil && !*in.SecurityEnabled) {
		return 0, nil, graphBadRequest("Only security groups (securityEnabled true, mailEnabled false, no groupTypes) are supported.")
	}
	gr, err := s.dir.CreateGroup(g.ctx, g.tid, directory.NewGroup{DisplayName: in.DisplayName, Description: in.Description, MailNickname: in.MailNickname})
	if err != nil {
		return 0, nil, err
	}
	return 201, s.entity("groups", groupJSON(gr)), nil
}

func (s *Server) getGroup(g *graphReq) (int, any, error) {
	gr, err := s.dir.Group(g.ctx, g.tid, g.params["id"])
	if err != nil {
		return 0, nil, err
	}
	return 200, s.entity("groups", groupJSON(gr)), nil
}

func (s *Server) patchGroup(g *graphReq) (int, any, error) {
	var in struct {
		DisplayName *string `json:"displayName"`
		Description *string `json:"description"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	_, err := s.dir.UpdateGroup(g.ctx, g.tid, g.params["id"], in.DisplayName, in.Description)
	return 204, nil, err
}

func (s *Server) deleteGroup(g *graphReq) (int, any, error) {
	return 204, nil, s.dir.DeleteGroup(g.ctx, g.tid, g.params["id"])
}

func (s *Server) objectList(g *graphReq, ctxPath string, objs []directory.Object, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	items := make([]gobj, 0, len(objs))
	for _, o := range objs {
		items = append(items, objectJSON(o))
	}
	return s.collection(g, ctxPath, items)
}

func (s *Server) groupMembers(g *graphReq) (int, any, error) {
	objs, err := s.dir.Members(g.ctx, g.tid, g.params["id"])
	return s.objectList(g, "directoryObjects", objs, err)
}

func (s *Server) groupTransitiveMembers(g *graphReq) (int, any, error) {
	objs, err := s.dir.TransitiveMembers(g.ctx, g.tid, g.params["id"])
	return s.objectList(g, "directoryObjects", objs, err)
}

func (s *Server) addMember(g *graphReq) (int, any, error) {
	var in struct {
		ODataID string `json:"@odata.id"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	id := in.ODataID[strings.LastIndexByte(in.ODataID, '/')+1:]
	if id == "" {
		return 0, nil, graphBadRequest("@odata.id must be a directoryObjects URL.")
	}
	if err := s.dir.AddMember(g.ctx, g.tid, g.params["id"], id); err != nil {
		if errors.Is(err, directory.ErrExists) {
			return 0, nil, graphBadRequest("One or more added object references already exist for the following modified properties: 'members'.")
		}
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) removeMember(g *graphReq) (int, any, error) {
	return 204, nil, s.dir.RemoveMember(g.ctx, g.tid, g.params["id"], g.params["member"])
}

// --- directory objects and memberships ---

func (s *Server) getByIds(g *graphReq) (int, any, error) {
	var in struct {
		IDs   []string `json:"ids"`
		Types []string `json:"types"`
	}
	if err := g.decode(&in); err != nil {
		return 0, nil, err
	}
	if len(in.IDs) > 1000 {
		return 0, nil, graphBadRequest("At most 1000 ids are allowed.")
	}
	objs, err := s.dir.Objects(g.ctx, g.tid, in.IDs)
	if err != nil {
		return 0, nil, err
	}
	var keep []directory.Object
	for _, o := range objs {
		ok := len(in.Types) == 0
		for _, t := range in.Types {
			ok = ok || strings.EqualFold(t, o.Kind)
		}
		if ok {
			keep = append(keep, o)
		}
	}
	return s.objectList(g, "directoryObjects", keep, nil)
}

func (s *Server) getObject(g *graphReq) (int, any, error) {
	objs, err := s.dir.Objects(g.ctx, g.tid, []string{g.params["id"]})
	if err != nil {
		return 0, nil, err
	}
	if len(objs) == 0 {
		return 0, nil, graphNotFound()
	}
	return 200, s.entity("directoryObjects", objectJSON(objs[0])), nil
}

// memberTarget resolves /{kind}/{id} for membership queries to an object
// id (users may be named by UPN).
func (s *Server) memberTarget(g *graphReq) (string, error) {
	id := appKey(g.params["id"])
	switch strings.ToLower(g.params["kind"]) {
	case "users":
		u, err := s.dir.User(g.ctx, g.tid, id)
		if err != nil {
			return "", err
		}
		return u.ID, nil
	case "serviceprincipals":
		sp, err := s.dir.ServicePrincipal(g.ctx, g.tid, id)
		if err != nil {
			return "", err
		}
		return sp.ObjectID, nil
	case "groups", "directoryobjects":
		if _, err := s.dir.ObjectKind(g.ctx, g.tid, id); err != nil {
			return "", err
		}
		return strings.ToLower(id), nil
	}
	return "", graphNotFound()
}

func (s *Server) memberOf(g *graphReq) (int, any, error) { return s.groupsOfTarget(g, s.dir.MemberOf) }

func (s *Server) transitiveMemberOf(g *graphReq) (int, any, error) {
	return s.groupsOfTarget(g, s.dir.TransitiveMemberOf)
}

// groupsOfTarget lists the groups (direct or transitive, per groups) of
// the request's member target as directory objects.
func (s *Server) groupsOfTarget(g *graphReq, groups func(ctx context.Context, tid, oid string) ([]string, error)) (int, any, error) {
	oid, err := s.memberTarget(g)
	if err != nil {
		return 0, nil, err
	}
	ids, err := groups(g.ctx, g.tid, oid)
	if err != nil {
		return 0, nil, err
	}
	objs, err := s.dir.Objects(g.ctx, g.tid, ids)
	return s.objectList(g, "directoryObjects", objs, err)
}

func (s *Server) getMemberObjects(g *graphReq) (int, any, error) {
	oid, err := s.memberTarget(g)
	if err != nil {
		return 0, nil, err
	}
	ids, err := s.dir.TransitiveMemberOf(g.ctx, g.tid, oid)
	if err != nil {
		return 0, nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return 200, gobj{"@odata.context": s.cfg.URL("graph") + "/v1.0/$metadata#Collection(Edm.String)", "value": ids}, nil
}
