// Package console tests the web console (internal/console) and the
// browser sign-in (authorization code + PKCE on login.<domain>) through
// the real HTTPS server: the login page's defences with a plain HTTP
// client (login_test.go), and whole scenarios in headless Chromium driven
// by chromedp (browser_test.go).
package console

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

const password = "Correct-Horse-Battery-9"

// world is the seed's people on one HSM ("dev"): alice of the security
// team (Administrator and Crypto User — the key custodians — through her group), erin the
// auditor (Crypto Auditor), dave with no role; one key, app-signing,
// expiring in ten days.
type world struct {
	s      *testserver.Server
	base   string
	admin  string
	oids   map[string]string
	groups map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	s := testserver.Start(t, nil)
	ctx := context.Background()
	dir, tid := s.App.Directory(), s.Dev.TenantID
	w := &world{s: s, base: s.HSMURL("dev"), oids: map[string]string{}, groups: map[string]string{}}
	var err error
	if w.admin, err = s.DevToken(); err != nil {
		t.Fatal(err)
	}
	for user, group := range map[string]string{"alice": "Contoso Security Team", "erin": "Contoso App Auditors", "dave": "Contoso App DevOps"} {
		g, err := dir.CreateGroup(ctx, tid, directory.NewGroup{DisplayName: group, MailNickname: uuid.NewString()[:8]})
		if err != nil {
			t.Fatal(err)
		}
		u, err := dir.CreateUser(ctx, tid, directory.NewUser{UserPrincipalName: w.upn(user), DisplayName: user, MailNickname: user, Password: password, AccountEnabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.AddMember(ctx, tid, g.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		w.oids[user], w.groups[group] = u.ID, g.ID
	}
	w.assign(t, rbac.RoleAdministrator, w.groups["Contoso Security Team"])
	w.assign(t, rbac.RoleCryptoUser, w.groups["Contoso Security Team"])
	w.assign(t, rbac.RoleCryptoAuditor, w.groups["Contoso App Auditors"])
	// The auditors also read the subscription on the management plane.
	mt, err := s.Token(s.Dev.ClientID, s.Dev.ClientSecret, "management")
	if err != nil {
		t.Fatal(err)
	}
	sub := "/subscriptions/" + s.Dev.SubscriptionID
	if st, b, err := s.Call(mt, "PUT", s.URL("management")+sub+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01",
		map[string]any{"properties": map[string]string{"roleDefinitionId": sub + "/providers/Microsoft.Authorization/roleDefinitions/" + armrbac.RoleReader,
			"principalId": w.groups["Contoso App Auditors"]}}); err != nil || st != http.StatusCreated {
		t.Fatalf("management Reader: %d %s %v", st, b, err)
	}
	exp := time.Now().Add(10 * 24 * time.Hour).Unix()
	if st, b, _ := s.Call(w.admin, "POST", w.base+"/keys/app-signing/create?api-version=7.6",
		map[string]any{"kty": "EC-HSM", "crv": "P-256", "attributes": map[string]any{"exp": exp}, "tags": map[string]string{"owner": "payments"}}); st != 200 {
		t.Fatalf("create key: %d %s", st, b)
	}
	if st, b, _ := s.Call(w.admin, "PUT", w.base+"/keys/app-signing/rotationpolicy?api-version=7.6", map[string]any{
		"lifetimeActions": []any{map[string]any{"trigger": map[string]any{"timeAfterCreate": "P30D"}, "action": map[string]any{"type": "Rotate"}}},
		"attributes":      map[string]any{"expiryTime": "P90D"}}); st != 200 {
		t.Fatalf("rotation policy: %d %s", st, b)
	}
	return w
}

func (w *world) upn(user string) string { return user + "@" + w.s.Config().Domain }

func (w *world) assign(t *testing.T, role, principal string) {
	t.Helper()
	st, b, err := w.s.Call(w.admin, "PUT", w.base+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=7.6",
		wire.RoleAssignmentCreateParameters{Properties: wire.RoleAssignmentProperties{
			RoleDefinitionID: "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + role, PrincipalID: principal}})
	if err != nil || st != http.StatusCreated {
		t.Fatalf("assign %s: %d %s %v", role, st, b, err)
	}
}
