package rbac_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

const seedPassword = "Correct-Horse-Battery-9"

// seedWorld is the seed's organisation: three groups with users, the VM
// application's managed identity and the storage service's identity.
type seedWorld struct {
	s      *testserver.Server
	base   string
	admin  string // dev token (tenant and HSM administrator) for setup
	groups map[string]string
	tokens map[string]string // who → data-plane token
	oids   map[string]string
}

func newSeedWorld(t *testing.T) *seedWorld {
	t.Helper()
	s := testserver.Start(t, func(c *config.Server) { c.MSIAddr = "127.0.0.1:0" })
	ctx := context.Background()
	dir, tid := s.App.Directory(), s.Dev.TenantID
	w := &seedWorld{s: s, base: s.HSMURL("dev"), groups: map[string]string{}, tokens: map[string]string{}, oids: map[string]string{}}
	var err error
	if w.admin, err = s.DevToken(); err != nil {
		t.Fatal(err)
	}
	members := map[string]string{"Contoso Security Team": "alice", "Contoso App DevOps": "dave", "Contoso App Auditors": "erin"}
	for group, user := range members {
		g, err := dir.CreateGroup(ctx, tid, directory.NewGroup{DisplayName: group, MailNickname: uuid.NewString()[:8]})
		if err != nil {
			t.Fatal(err)
		}
		w.groups[group] = g.ID
		upn := user + "@" + s.Config().Domain
		u, err := dir.CreateUser(ctx, tid, directory.NewUser{UserPrincipalName: upn, DisplayName: user, MailNickname: user, Password: seedPassword, AccountEnabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.AddMember(ctx, tid, g.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		w.oids[user] = u.ID
		if w.tokens[user], err = s.PasswordToken(upn, seedPassword, "managedhsm"); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"vm-app", "storage"} {
		mi, header, err := dir.CreateIdentity(ctx, tid, id)
		if err != nil {
			t.Fatal(err)
		}
		w.oids[id] = mi.PrincipalID
		if w.tokens[id], err = s.IdentityToken(header, "managedhsm"); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// assign grants role (by name) to principal at scope through the RBAC API,
// as the caller holding tok.
func (w *seedWorld) assign(t *testing.T, tok, role, principal, scope string) int {
	t.Helper()
	id := map[string]string{
		"Managed HSM Administrator": "a290e904-7015-4bba-90c8-60543313cdb4", "Managed HSM Crypto User": "21dbd100-6940-42c2-9190-5d6cb909625b",
		"Managed HSM Crypto Auditor": "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3", "Managed HSM Crypto Service Encryption User": "33413926-3206-4cdd-b39a-83574fe37a17",
	}[role]
	prefix := ""
	if scope != "/" {
		prefix = scope
	}
	st, b, err := w.s.Call(tok, "PUT", w.base+prefix+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=7.2",
		wire.RoleAssignmentCreateParameters{Properties: wire.RoleAssignmentProperties{
			RoleDefinitionID: "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + id, PrincipalID: principal}})
	if err != nil {
		t.Fatal(err)
	}
	if st != http.StatusCreated && st != http.StatusForbidden {
		t.Fatalf("assign %s: %d %s", role, st, b)
	}
	return st
}

type step struct {
	who, what, method, path string
	body                    any
	allowed                 bool
}

// TestSeedSeparationOfDuties is the seed's data-plane scenario in depth,
// through raw API calls with key-scoped assignments (the whole story, told
// once with the CLI, is examples/contoso, run by test/contoso): the
// security team administers, the VM application signs with its RSA-2048
// key, the storage identity wraps with its key, auditors read, developers
// get nothing; group membership changes apply on the next request.
func TestSeedSeparationOfDuties(t *testing.T) {
	w := newSeedWorld(t)
	// The security team becomes administrator (the subscription admin's step
	// on the management plane is in test/mgmt); then it grants the rest.
	if st := w.assign(t, w.admin, "Managed HSM Administrator", w.groups["Contoso Security Team"], "/"); st != 201 {
		t.Fatal("bootstrap assignment refused")
	}
	alice := w.tokens["alice"]
	for _, a := range []struct{ role, principal, scope string }{
		{"Managed HSM Crypto Auditor", w.groups["Contoso App Auditors"], "/"},
		{"Managed HSM Crypto User", w.oids["vm-app"], "/keys/app-signing"},
		{"Managed HSM Crypto Service Encryption User", w.oids["storage"], "/keys/storage-cmk"},
	} {
		if st := w.assign(t, alice, a.role, a.principal, a.scope); st != 201 {
			t.Fatalf("security team could not grant %s", a.role)
		}
	}
	// The storage key is made by the dev principal (a key officer here).
	if st, b, _ := w.s.Call(w.admin, "POST", w.base+"/keys/storage-cmk/create?api-version=7.6", map[string]any{"kty": "RSA-HSM"}); st != 200 {
		t.Fatalf("create storage key: %d %s", st, b)
	}
	digest := sha256.Sum256([]byte("order 1"))
	sig := map[string]any{"alg": "RS256", "value": base64.RawURLEncoding.EncodeToString(digest[:])}
	wrap := map[string]any{"alg": "RSA-OAEP-256", "value": base64.RawURLEncoding.EncodeToString(make([]byte, 32))}
	steps := []step{
		// The VM application creates and uses its RSA-2048 signing key.
		{"vm-app", "create its key", "POST", "/keys/app-signing/create", map[string]any{"kty": "RSA-HSM", "key_size": 2048}, true},
		{"vm-app", "sign", "POST", "/keys/app-signing/sign", sig, true},
		{"vm-app", "read its key", "GET", "/keys/app-signing", nil, true},
		{"vm-app", "sign with another key", "POST", "/keys/storage-cmk/sign", sig, false},
		{"vm-app", "list all keys", "GET", "/keys", nil, false},
		{"vm-app", "grant itself more", "PUT", "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString(),
			wire.RoleAssignmentCreateParameters{Properties: wire.RoleAssignmentProperties{RoleDefinitionID: "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/a290e904-7015-4bba-90c8-60543313cdb4", PrincipalID: w.oids["vm-app"]}}, false},
		{"vm-app", "purge", "DELETE", "/deletedkeys/app-signing", nil, false},
		// The storage identity wraps and unwraps with its key only.
		{"storage", "wrap", "POST", "/keys/storage-cmk/wrapkey", wrap, true},
		{"storage", "read its key", "GET", "/keys/storage-cmk", nil, true},
		{"storage", "sign", "POST", "/keys/storage-cmk/sign", sig, false},
		{"storage", "wrap with the app key", "POST", "/keys/app-signing/wrapkey", wrap, false},
		{"storage", "create a key", "POST", "/keys/storage-2/create", map[string]any{"kty": "RSA-HSM"}, false},
		// Auditors read keys and role assignments, and nothing else.
		{"erin", "list keys", "GET", "/keys", nil, true},
		{"erin", "read a key", "GET", "/keys/app-signing", nil, true},
		{"erin", "list role assignments", "GET", "/providers/Microsoft.Authorization/roleAssignments", nil, true},
		{"erin", "list deleted keys", "GET", "/deletedkeys", nil, true},
		{"erin", "sign", "POST", "/keys/app-signing/sign", sig, false},
		{"erin", "create", "POST", "/keys/erin/create", map[string]any{"kty": "EC-HSM"}, false},
		{"erin", "grant", "PUT", "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString(), map[string]any{}, false},
		// Developers and operators: nothing.
		{"dave", "list keys", "GET", "/keys", nil, false},
		{"dave", "read the key", "GET", "/keys/app-signing", nil, false},
		{"dave", "sign", "POST", "/keys/app-signing/sign", sig, false},
		{"dave", "list role assignments", "GET", "/providers/Microsoft.Authorization/roleAssignments", nil, false},
		// The security team administers but does not use keys.
		{"alice", "list role assignments", "GET", "/providers/Microsoft.Authorization/roleAssignments", nil, true},
		{"alice", "read settings", "GET", "/settings", nil, true},
		{"alice", "sign", "POST", "/keys/app-signing/sign", sig, false},
		{"alice", "create a key", "POST", "/keys/alice/create", map[string]any{"kty": "EC-HSM"}, false},
		{"alice", "read a key", "GET", "/keys/app-signing", nil, false},
	}
	for _, st := range steps {
		status, b, err := w.s.Call(w.tokens[st.who], st.method, w.base+st.path+"?api-version=7.6", st.body)
		if err != nil {
			t.Fatal(err)
		}
		var e wire.Error
		_ = json.Unmarshal(b, &e)
		denied := status == http.StatusForbidden && e.Error.Code == "AccessDenied"
		if st.allowed && (status/100 != 2) || !st.allowed && !denied {
			t.Errorf("%s: %s → %d %s (want allowed=%v)", st.who, st.what, status, b, st.allowed)
		}
	}
	// Auditors see role assignments but never key material.
	_, b, _ := w.s.Call(w.tokens["erin"], "GET", w.base+"/keys/app-signing?api-version=7.6", nil)
	var kb map[string]map[string]any
	_ = json.Unmarshal(b, &kb)
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if _, ok := kb["key"][private]; ok {
			t.Errorf("key read returned private component %q", private)
		}
	}
	// A developer added to the security team gets its rights on the next
	// request, and loses them when removed.
	ctx := context.Background()
	dir := w.s.App.Directory()
	if err := dir.AddMember(ctx, w.s.Dev.TenantID, w.groups["Contoso Security Team"], w.oids["dave"]); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := w.s.Call(w.tokens["dave"], "GET", w.base+"/providers/Microsoft.Authorization/roleAssignments?api-version=7.6", nil); st != 200 {
		t.Errorf("after joining the security team: %d", st)
	}
	if err := dir.RemoveMember(ctx, w.s.Dev.TenantID, w.groups["Contoso Security Team"], w.oids["dave"]); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := w.s.Call(w.tokens["dave"], "GET", w.base+"/providers/Microsoft.Authorization/roleAssignments?api-version=7.6", nil); st != 403 {
		t.Errorf("after leaving the security team: %d", st)
	}
}
