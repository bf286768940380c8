package security

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/testserver"
)

// TestLockoutIsPerSource is issue #14.4: ten wrong secrets for a known
// client_id (app ids are public to the tenant) used to lock the real
// client out everywhere. Failures now count per (principal, TCP peer): the
// attacking source backs off, the real client on its own address signs in.
func TestLockoutIsPerSource(t *testing.T) {
	s := testserver.Start(t, nil)
	attacker, victim := clientFrom(t, s, "127.0.0.2"), clientFrom(t, s, "127.0.0.3")
	secretForm := func(secret string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {s.Dev.ClientID}, "client_secret": {secret},
			"scope": {s.URL("managedhsm") + "/.default"}}
	}
	for i := 0; i < directory.DefaultLockout.MaxFailures; i++ {
		if st, m := tokenForm(t, s, attacker, secretForm(fmt.Sprintf("wrong-%d", i))); st != 401 {
			t.Fatalf("wrong secret %d: %d %v", i, st, m)
		}
	}
	if st, m := tokenForm(t, s, attacker, secretForm(s.Dev.ClientSecret)); !locked(st, m) {
		t.Fatalf("the failing source with the right secret: %d %v, want the lockout refusal", st, m)
	}
	if st, m := tokenForm(t, s, victim, secretForm(s.Dev.ClientSecret)); st != 200 {
		t.Fatalf("the real client from its own address: %d %v", st, m)
	}

	// The same for a user and the password grant.
	const pw = "Correct-horse-battery-9"
	upn := "ada@" + s.Config().Domain
	if _, err := s.App.Directory().CreateUser(context.Background(), s.Dev.TenantID, directory.NewUser{
		UserPrincipalName: upn, DisplayName: "Ada", Password: pw, AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	pwForm := func(password string) url.Values {
		return url.Values{"grant_type": {"password"}, "client_id": {directory.MHSMCLIClientID}, "username": {upn}, "password": {password},
			"scope": {s.URL("managedhsm") + "/.default"}}
	}
	for i := 0; i < directory.DefaultLockout.MaxFailures; i++ {
		tokenForm(t, s, attacker, pwForm(fmt.Sprintf("guess-%d", i)))
	}
	if st, m := tokenForm(t, s, attacker, pwForm(pw)); !locked(st, m) {
		t.Fatalf("the failing source with the right password: %d %v", st, m)
	}
	if st, m := tokenForm(t, s, victim, pwForm(pw)); st != 200 {
		t.Fatalf("the user from its own address: %d %v", st, m)
	}
}

// TestLockoutCeilingSparesCleanSources: past the per-principal ceiling
// (many sources failing), every source that failed is refused — one guess
// per fresh address — but a source that has not failed still gets in.
func TestLockoutCeilingSparesCleanSources(t *testing.T) {
	s := testserver.Start(t, nil)
	form := func(secret string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {s.Dev.ClientID}, "client_secret": {secret},
			"scope": {s.URL("managedhsm") + "/.default"}}
	}
	p := directory.DefaultLockout
	sources := (p.PrincipalCeiling + p.MaxFailures - 1) / p.MaxFailures
	for i := 0; i < sources; i++ {
		c := clientFrom(t, s, fmt.Sprintf("127.0.1.%d", i+1))
		for j := 0; j < p.MaxFailures; j++ {
			tokenForm(t, s, c, form("wrong"))
		}
	}
	once := clientFrom(t, s, "127.0.2.1")
	if st, m := tokenForm(t, s, once, form("wrong")); st != 401 {
		t.Fatalf("first failure of a fresh source past the ceiling: %d %v", st, m)
	}
	if st, m := tokenForm(t, s, once, form(s.Dev.ClientSecret)); !locked(st, m) {
		t.Fatalf("a source that failed once, past the ceiling: %d %v, want the lockout refusal", st, m)
	}
	if st, m := tokenForm(t, s, clientFrom(t, s, "127.0.2.2"), form(s.Dev.ClientSecret)); st != 200 {
		t.Fatalf("a clean source past the ceiling: %d %v", st, m)
	}
}
