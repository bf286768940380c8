package mgmt

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/testserver"
)

// roleID resolves a role by name as `az role assignment create --role`
// does: list role definitions at the scope filtered by roleName.
func roleID(t *testing.T, c clients, scope, name string) string {
	t.Helper()
	var ids []string
	filter := "roleName eq '" + name + "'"
	for pager := c.rds.NewListPager(scope, &armauthorization.RoleDefinitionsClientListOptions{Filter: &filter}); pager.More(); {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Value {
			ids = append(ids, *d.ID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("role %q: %v", name, ids)
	}
	return ids[0]
}

func assignRole(ctx context.Context, c clients, scope, roleDefID, principal string, ptype armauthorization.PrincipalType) (armauthorization.RoleAssignment, error) {
	res, err := c.ras.Create(ctx, scope, newGUID(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: &roleDefID, PrincipalID: &principal, PrincipalType: &ptype}}, nil)
	return res.RoleAssignment, err
}

func TestRoleDefinitions(t *testing.T) {
	s := testserver.Start(t, nil)
	c := armClients(t, s, devCredential(t, s))
	ctx := context.Background()
	sub := "/subscriptions/" + s.Dev.SubscriptionID
	want := map[string]string{
		"Owner": armrbac.RoleOwner, "Contributor": armrbac.RoleContributor, "Reader": armrbac.RoleReader,
		"User Access Administrator": armrbac.RoleUserAccessAdministrator, "Managed HSM Contributor": armrbac.RoleManagedHSMContributor,
	}
	for name, id := range want {
		if got := roleID(t, c, sub, name); got != sub+"/providers/Microsoft.Authorization/roleDefinitions/"+id {
			t.Errorf("%s = %s", name, got)
		}
	}
	d, err := c.rds.Get(ctx, sub, armrbac.RoleManagedHSMContributor, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := d.Properties
	if *p.RoleType != "BuiltInRole" || *p.Description != "Lets you manage managed HSM pools, but not access to them." || *p.Permissions[0].Actions[0] != "Microsoft.KeyVault/managedHSMs/*" {
		t.Fatalf("Managed HSM contributor: %+v", p)
	}
	byID, err := c.rds.GetByID(ctx, "/providers/Microsoft.Authorization/roleDefinitions/"+armrbac.RoleContributor, nil)
	if err != nil || *byID.Properties.RoleName != "Contributor" || len(byID.Properties.Permissions[0].NotActions) == 0 {
		t.Fatalf("Contributor by id: %v", err)
	}

	// A custom role, assignable in the subscription, usable like a built-in.
	custom := newGUID()
	_, err = c.rds.CreateOrUpdate(ctx, sub, custom, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: ptr("HSM reader and deleter"), RoleType: ptr("CustomRole"), AssignableScopes: []*string{ptr(sub)},
		Permissions: []*armauthorization.Permission{{Actions: []*string{ptr("Microsoft.KeyVault/managedHSMs/*")}, NotActions: []*string{ptr("Microsoft.KeyVault/managedHSMs/write")}}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := roleID(t, c, sub, "HSM reader and deleter"); !strings.HasSuffix(got, custom) {
		t.Fatalf("custom role id %s", got)
	}
	_, err = c.rds.CreateOrUpdate(ctx, sub, newGUID(), armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: ptr("Owner"), AssignableScopes: []*string{ptr(sub)}, Permissions: []*armauthorization.Permission{{Actions: []*string{ptr("*/read")}}}}}, nil)
	wantErr(t, "custom role named like a built-in", err, 409, "RoleDefinitionWithSameNameExists")
	sp := newSP(t, s, "operator")
	ra, err := assignRole(ctx, c, sub, sub+"/providers/Microsoft.Authorization/roleDefinitions/"+custom, sp.oid, armauthorization.PrincipalTypeServicePrincipal)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.rds.Delete(ctx, sub, custom, nil)
	wantErr(t, "delete an assigned custom role", err, 409, "RoleDefinitionHasAssignments")
	if _, err := c.ras.DeleteByID(ctx, *ra.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.rds.Delete(ctx, sub, custom, nil); err != nil {
		t.Fatal(err)
	}
}

func TestRoleAssignments(t *testing.T) {
	s := testserver.Start(t, nil)
	c := armClients(t, s, devCredential(t, s))
	ctx := context.Background()
	createRG(t, c, "rg")
	sub := "/subscriptions/" + s.Dev.SubscriptionID
	rg := sub + "/resourceGroups/rg"
	sp := newSP(t, s, "app")
	group := newGroup(t, s, "Contoso Security Team", sp.oid)
	reader := roleID(t, c, sub, "Reader")

	ra, err := assignRole(ctx, c, rg, reader, group, armauthorization.PrincipalTypeGroup)
	if err != nil {
		t.Fatal(err)
	}
	if *ra.Properties.Scope != rg || *ra.Properties.PrincipalID != group || *ra.Properties.RoleDefinitionID != reader || *ra.Type != "Microsoft.Authorization/roleAssignments" ||
		*ra.ID != rg+"/providers/Microsoft.Authorization/roleAssignments/"+*ra.Name {
		t.Fatalf("assignment %+v", ra)
	}
	got, err := c.ras.Get(ctx, rg, *ra.Name, nil)
	if err != nil || *got.ID != *ra.ID {
		t.Fatalf("get: %v", err)
	}
	_, err = assignRole(ctx, c, rg, reader, group, armauthorization.PrincipalTypeGroup)
	wantErr(t, "duplicate assignment", err, 409, "RoleAssignmentExists")
	_, err = assignRole(ctx, c, rg, reader, group, armauthorization.PrincipalTypeUser)
	wantErr(t, "wrong principal type", err, 400, "UnmatchedPrincipalType")
	_, err = assignRole(ctx, c, rg, reader, newGUID(), armauthorization.PrincipalTypeUser)
	wantErr(t, "unknown principal", err, 400, "PrincipalNotFound")
	_, err = assignRole(ctx, c, sub+"/resourceGroups/missing", reader, group, armauthorization.PrincipalTypeGroup)
	wantErr(t, "assignment in a missing group", err, 404, "ResourceGroupNotFound")
	_, err = assignRole(ctx, c, rg, sub+"/providers/Microsoft.Authorization/roleDefinitions/"+newGUID(), group, armauthorization.PrincipalTypeGroup)
	wantErr(t, "unknown role", err, 400, "RoleDefinitionDoesNotExist")

	list := func(scope, filter string) []string {
		var o *armauthorization.RoleAssignmentsClientListForScopeOptions
		if filter != "" {
			f := url.QueryEscape(filter)
			o = &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: &f}
		}
		var out []string
		for pager := c.ras.NewListForScopePager(scope, o); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page.Value {
				out = append(out, *a.Properties.PrincipalID+"@"+*a.Properties.Scope)
			}
		}
		return out
	}
	devOID := tokenOID(t, mgmtToken(t, s, devCredential(t, s)))
	if got := list(sub, "principalId eq '"+group+"'"); len(got) != 1 || got[0] != group+"@"+rg {
		t.Fatalf("principalId filter at the subscription (includes below) = %v", got)
	}
	if got := list(sub, "atScope()"); len(got) != 1 || got[0] != devOID+"@"+sub {
		t.Fatalf("atScope() at the subscription = %v", got)
	}
	if got := list(rg, "assignedTo('"+sp.oid+"')"); len(got) != 1 || got[0] != group+"@"+rg {
		t.Fatalf("assignedTo (through a group) = %v", got)
	}
	if got := list(rg, ""); len(got) != 2 {
		t.Fatalf("at, above and below the group = %v", got)
	}

	// The reader's group membership gives it reads in the group, nothing else.
	sc := armClients(t, s, sp.cred)
	if _, err := sc.groups.Get(ctx, "rg", nil); err != nil {
		t.Fatalf("a reader through its group cannot read the group: %v", err)
	}
	_, err = sc.groups.CreateOrUpdate(ctx, "rg", rgParams("local"), nil)
	wantErr(t, "a reader writes", err, 403, "AuthorizationFailed")
	_, err = assignRole(ctx, sc, rg, reader, sp.oid, armauthorization.PrincipalTypeServicePrincipal)
	wantErr(t, "a reader assigns roles", err, 403, "AuthorizationFailed")

	if _, err := c.ras.Delete(ctx, rg, *ra.Name, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.ras.Get(ctx, rg, *ra.Name, nil)
	wantErr(t, "get a deleted assignment", err, 404, "RoleAssignmentNotFound")
	_, err = sc.groups.Get(ctx, "rg", nil)
	wantErr(t, "read after the assignment is deleted", err, 403, "AuthorizationFailed")
}
