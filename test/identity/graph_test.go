package identity

import (
	"context"
	"errors"
	"slices"
	"testing"

	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/directoryobjects"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mhsm/mhsm/internal/testserver"
)

func newUser(t *testing.T, gc *msgraph.GraphServiceClient, upn, name, password string) models.Userable {
	t.Helper()
	u := models.NewUser()
	u.SetAccountEnabled(ptr(true))
	u.SetDisplayName(ptr(name))
	u.SetMailNickname(ptr(name))
	u.SetUserPrincipalName(ptr(upn))
	pp := models.NewPasswordProfile()
	pp.SetPassword(ptr(password))
	pp.SetForceChangePasswordNextSignIn(ptr(false))
	u.SetPasswordProfile(pp)
	return m(gc.Users().Post(context.Background(), u, nil)).get(t)
}

func newGroup(t *testing.T, gc *msgraph.GraphServiceClient, name string) models.Groupable {
	t.Helper()
	g := models.NewGroup()
	g.SetDisplayName(ptr(name))
	g.SetMailEnabled(ptr(false))
	g.SetMailNickname(ptr("g"))
	g.SetSecurityEnabled(ptr(true))
	return m(gc.Groups().Post(context.Background(), g, nil)).get(t)
}

func addMember(t *testing.T, gc *msgraph.GraphServiceClient, gid, member string) {
	t.Helper()
	ref := models.NewReferenceCreate()
	ref.SetOdataId(ptr("https://graph.microsoft.com/v1.0/directoryObjects/" + member))
	if err := gc.Groups().ByGroupId(gid).Members().Ref().Post(context.Background(), ref, nil); err != nil {
		t.Fatalf("add member: %s", describe(err))
	}
}

// newApp registers an application with a secret and a service principal
// through Graph and returns appId, SP object id and the secret.
func newApp(t *testing.T, gc *msgraph.GraphServiceClient, name string) (string, string, string) {
	t.Helper()
	ctx := context.Background()
	a := models.NewApplication()
	a.SetDisplayName(ptr(name))
	app := m(gc.Applications().Post(ctx, a, nil)).get(t)
	body := applications.NewItemAddPasswordPostRequestBody()
	pc := models.NewPasswordCredential()
	pc.SetDisplayName(ptr("test"))
	body.SetPasswordCredential(pc)
	cred := m(gc.Applications().ByApplicationId(*app.GetId()).AddPassword().Post(ctx, body, nil)).get(t)
	sp := models.NewServicePrincipal()
	sp.SetAppId(app.GetAppId())
	created := m(gc.ServicePrincipals().Post(ctx, sp, nil)).get(t)
	return *app.GetAppId(), *created.GetId(), deref(cred.GetSecretText())
}

func ids(objs []models.DirectoryObjectable) []string {
	var out []string
	for _, o := range objs {
		out = append(out, *o.GetId())
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func TestGraphSDKDirectory(t *testing.T) {
	s := start(t, nil)
	ctx := context.Background()
	gc := devGraph(t, s)

	ada := newUser(t, gc, upn(s, "ada"), "Ada Lovelace", "Analytical-Engine-1843")
	grace := newUser(t, gc, upn(s, "grace"), "Grace Hopper", "Cobol-Compiler-1959")
	sec := newGroup(t, gc, "Contoso Security Team")
	devops := newGroup(t, gc, "App DevOps")
	addMember(t, gc, *devops.GetId(), *grace.GetId())
	addMember(t, gc, *sec.GetId(), *devops.GetId())
	addMember(t, gc, *sec.GetId(), *ada.GetId())

	// Adding a member twice is Graph's 400.
	ref := models.NewReferenceCreate()
	ref.SetOdataId(ptr(s.URL("graph") + "/v1.0/directoryObjects/" + *ada.GetId()))
	err := gc.Groups().ByGroupId(*sec.GetId()).Members().Ref().Post(ctx, ref, nil)
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != 400 {
		t.Fatalf("duplicate member: %v", err)
	}

	members := m(gc.Groups().ByGroupId(*sec.GetId()).Members().Get(ctx, nil)).get(t).GetValue()
	if got := ids(members); !slices.Equal(got, sorted(*devops.GetId(), *ada.GetId())) {
		t.Fatalf("members = %v", got)
	}
	for _, m := range members { // polymorphic deserialization by @odata.type
		switch m.(type) {
		case models.Userable, models.Groupable:
		default:
			t.Errorf("member %s deserialized as %T", *m.GetId(), m)
		}
	}
	tm := m(gc.Users().ByUserId(*grace.GetId()).TransitiveMemberOf().Get(ctx, nil)).get(t).GetValue()
	if got := ids(tm); !slices.Equal(got, sorted(*devops.GetId(), *sec.GetId())) {
		t.Fatalf("grace transitiveMemberOf = %v", got)
	}
	all := m(gc.Groups().ByGroupId(*sec.GetId()).TransitiveMembers().Get(ctx, nil)).get(t).GetValue()
	if len(all) != 3 {
		t.Fatalf("transitive members = %d", len(all))
	}

	// $filter by userPrincipalName, displayName and appId.
	us := m(gc.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: ptr("userPrincipalName eq '" + upn(s, "ADA") + "'")}})).get(t).GetValue()
	if len(us) != 1 || *us[0].GetId() != *ada.GetId() {
		t.Fatalf("filter by UPN: %v", ids(asObjects(us)))
	}
	gs := m(gc.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: ptr("displayName eq 'Contoso Security Team'")}})).get(t).GetValue()
	if len(gs) != 1 || *gs[0].GetId() != *sec.GetId() {
		t.Fatal("filter by displayName")
	}

	appID, spID, secret := newApp(t, gc, "storage-service")
	if secret == "" {
		t.Fatal("addPassword returned no secretText")
	}
	sps := m(gc.ServicePrincipals().Get(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Filter: ptr("appId eq '" + appID + "'")}})).get(t).GetValue()
	if len(sps) != 1 || *sps[0].GetId() != spID || deref(sps[0].GetServicePrincipalType()) != "Application" {
		t.Fatal("filter SP by appId")
	}
	// The secret is shown once: reading the application shows only a hint.
	apps := m(gc.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: ptr("appId eq '" + appID + "'")}})).get(t).GetValue()
	if len(apps) != 1 || len(apps[0].GetPasswordCredentials()) != 1 || apps[0].GetPasswordCredentials()[0].GetSecretText() != nil {
		t.Fatal("application read back with its secret")
	}

	body := directoryobjects.NewGetByIdsPostRequestBody()
	body.SetIds([]string{*ada.GetId(), *sec.GetId(), spID, "00000000-0000-0000-0000-000000000000"})
	body.SetTypes([]string{"user", "group", "servicePrincipal"})
	byIDs := m(gc.DirectoryObjects().GetByIds().PostAsGetByIdsPostResponse(ctx, body, nil)).get(t).GetValue()
	if got := ids(byIDs); !slices.Equal(got, sorted(*ada.GetId(), *sec.GetId(), spID)) {
		t.Fatalf("getByIds = %v", got)
	}
	if _, ok := byIDs[slices.IndexFunc(byIDs, func(o models.DirectoryObjectable) bool { return *o.GetId() == spID })].(models.ServicePrincipalable); !ok {
		t.Error("getByIds: service principal type")
	}

	// Removing a member and deleting a user.
	if err := gc.Groups().ByGroupId(*sec.GetId()).Members().ByDirectoryObjectId(*ada.GetId()).Ref().Delete(ctx, nil); err != nil {
		t.Fatal(describe(err))
	}
	if err := gc.Users().ByUserId(*grace.GetId()).Delete(ctx, nil); err != nil {
		t.Fatal(describe(err))
	}
	_, err = gc.Users().ByUserId(*grace.GetId()).Get(ctx, nil)
	if !errors.As(err, &oe) || oe.ResponseStatusCode != 404 {
		t.Fatalf("deleted user: %v", err)
	}
	if got := ids(m(gc.Groups().ByGroupId(*devops.GetId()).Members().Get(ctx, nil)).get(t).GetValue()); len(got) != 0 {
		t.Fatalf("deleted user still a member: %v", got)
	}
}

func asObjects[T models.DirectoryObjectable](in []T) []models.DirectoryObjectable {
	out := make([]models.DirectoryObjectable, len(in))
	for i := range in {
		out[i] = in[i]
	}
	return out
}

// TestGraphAuthorization: any principal of the tenant reads; only the
// tenant administrator writes; no token, a token for another audience, or
// an external principal gets nothing.
func TestGraphAuthorization(t *testing.T) {
	s := start(t, nil)
	gc := devGraph(t, s)
	newUser(t, gc, upn(s, "ada"), "Ada", "Analytical-Engine-1843")
	st, tr := passwordToken(t, s, upn(s, "ada"), "Analytical-Engine-1843", "graph")
	if st != 200 {
		t.Fatalf("password grant: %d %v", st, tr)
	}
	userTok := str(tr, "access_token")
	if st, _ := graphRaw(t, s, userTok, "GET", "/v1.0/users", nil); st != 200 {
		t.Fatalf("member read: %d", st)
	}
	st, body := graphRaw(t, s, userTok, "POST", "/v1.0/groups", map[string]any{"displayName": "x", "securityEnabled": true, "mailNickname": "x"})
	if st != 403 || str(body["error"].(map[string]any), "code") != "Authorization_RequestDenied" {
		t.Fatalf("non-admin write: %d %v", st, body)
	}
	if st, _ := graphRaw(t, s, "", "GET", "/v1.0/users", nil); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	hsmTok, _ := s.DevToken()
	if st, _ := graphRaw(t, s, hsmTok, "GET", "/v1.0/users", nil); st != 401 {
		t.Fatalf("data-plane token on Graph: %d", st)
	}
	graphTok, err := s.Token(s.Dev.ClientID, s.Dev.ClientSecret, "graph")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := graphRaw(t, s, graphTok, "GET", "/v1.0/users?$filter=mail eq 'x'", nil); st != 400 {
		t.Fatalf("unsupported filter: %d", st)
	}
	if st, _ := graphRaw(t, s, graphTok, "GET", "/v1.0/nothing", nil); st != 400 {
		t.Fatalf("unknown segment: %d", st)
	}
	if st, m := graphRaw(t, s, graphTok, "GET", "/v1.0/applications(appId='"+s.Dev.ClientID+"')", nil); st != 200 || str(m, "appId") != s.Dev.ClientID {
		t.Fatalf("alternate key: %d %v", st, m)
	}
}

var _ = testserver.Start

// TestGraphPatchUnknownObject: PATCH of an application or service principal
// that does not exist is a 404 whatever the body holds (found by the
// bad-input sweep: an empty body used to answer 204).
func TestGraphPatchUnknownObject(t *testing.T) {
	s := start(t, nil)
	tok := tokenFor(t, s, secretCredential(t, s, s.Dev.ClientID, s.Dev.ClientSecret), "graph")
	for _, path := range []string{"/v1.0/applications/", "/v1.0/servicePrincipals/"} {
		if st, _ := graphRaw(t, s, tok, "PATCH", path+"6d68736d-0000-4000-8000-00000000dead", map[string]any{}); st != 404 {
			t.Errorf("PATCH %s<unknown>: %d, want 404", path, st)
		}
	}
}
