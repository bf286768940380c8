// Package rbac_test checks local RBAC end to end: every built-in role ×
// every routed data action × scope × principal kind, each cell one real
// HTTPS call to a running server. Expected answers come from the
// hand-written golden files in testdata (golden_test.go), never from the
// role and route tables under test.
package rbac_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/httpapi"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// principal is one caller of the matrix with the role it was given.
type principal struct {
	kind       string
	role       goldenRole
	assignedAt string // "/", "/keys" or "/keys/k"
	token      string
}

// bodyFor returns a minimal body for an operation; the matrix only checks
// whether the pipeline denied the call, not whether the operation succeeded.
func bodyFor(op string) any {
	switch op {
	case "KeyCreate":
		return map[string]any{"kty": "EC-HSM", "crv": "P-256"}
	case "GetRandomBytes":
		return map[string]any{"count": 8}
	case "SettingUpdate":
		return map[string]any{"value": "false"}
	case "KeySign":
		return map[string]any{"alg": "ES256", "value": strings.Repeat("A", 43)}
	}
	return map[string]any{}
}

// pathFor fills a route pattern for a target key ("" for HSM-wide routes).
func pathFor(pattern, key string) string {
	r := strings.NewReplacer("{name}", key, "{version}", "0123456789abcdef0123456789abcdef",
		"{id}", uuid.NewString(), "{setting}", "SeparationOfDutiesGuard")
	return r.Replace(pattern)
}

// covers reports whether an assignment at scope covers target ("/",
// "/keys" or "/keys/<name>"): "/" covers everything, "/keys" every key and
// the key collection (reference managed-hsm.md §9: "/keys" is a scope of
// its own), "/keys/<name>" that key only.
func covers(assignedAt, target string) bool {
	s, _ := rbac.CanonicalScope(assignedAt)
	return s == "/" || s == target || (s == "/keys" && strings.HasPrefix(target, "/keys/"))
}

// TestAuthorizationMatrix runs the matrix once per principal kind, each on
// a fresh server (the documented limits — 50 assignments at HSM scope, 10
// per key — fit one kind's 27 assignments, not all four kinds').
func TestAuthorizationMatrix(t *testing.T) {
	for i, name := range []string{"service principal", "user", "user via group", "managed identity"} {
		t.Run(name, func(t *testing.T) { runMatrix(t, i) })
	}
}

func runMatrix(t *testing.T, kindIdx int) {
	s := testserver.Start(t, func(c *config.Server) {
		c.MSIAddr = "127.0.0.1:0"
		c.ThrottleCapacity, c.ThrottlePrincipalRate, c.ThrottleHSMRate = 0, 0, 0 // the matrix is a burst of thousands of calls
	})
	devTok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	base := s.HSMURL("dev")
	// The key "k" exists; "other" exists too. Cells may delete or purge them:
	// only the decision (AccessDenied or not) is checked.
	for _, k := range []string{"k", "other"} {
		if st, b, err := s.Call(devTok, "POST", base+"/keys/"+k+"/create", bodyFor("KeyCreate")); err != nil || st != 200 {
			t.Fatalf("create %s: %d %s %v", k, st, b, err)
		}
	}

	kinds := principalKinds(t, s)[kindIdx : kindIdx+1]
	var ps []*principal
	golden := goldenRoutes(t)
	for _, role := range goldenRoles(t) {
		for _, at := range []string{"/", "/keys", "/keys/k"} {
			for _, kind := range kinds {
				oid, tok := kind.make(t)
				body := wire.RoleAssignmentCreateParameters{Properties: wire.RoleAssignmentProperties{
					RoleDefinitionID: "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + role.ID, PrincipalID: oid}}
				prefix := strings.TrimSuffix(at, "/")
				st, b, err := s.Call(devTok, "PUT", base+prefix+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(), body)
				if err != nil || st != http.StatusCreated {
					t.Fatalf("assign %s at %s: %d %s %v", role.Name, at, st, b, err)
				}
				ps = append(ps, &principal{kind: kind.name, role: role, assignedAt: at, token: tok})
			}
		}
	}

	srv := httpapi.New(httpapi.Deps{})
	routes := srv.DataRoutes()
	type cell struct {
		p      *principal
		rt     httpapi.Route
		g      goldenRoute
		target string
	}
	var cells []cell
	for _, rt := range routes {
		g, ok := golden[rt.Method+" "+rt.Pattern]
		if !ok {
			t.Errorf("route %s %s has no line in testdata/routes.golden", rt.Method, rt.Pattern)
			continue
		}
		targets := []string{""}
		if strings.Contains(rt.Pattern, "{name}") {
			targets = []string{"k", "other"}
		}
		for _, p := range ps {
			for _, tg := range targets {
				cells = append(cells, cell{p, rt, g, tg})
			}
		}
	}
	var mu sync.Mutex
	failures := 0
	actionsSeen := map[rbac.Action]bool{}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range cells {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			target := c.g.Scope // the scope the golden file says the route is authorized at
			if c.g.KeyScope {
				target = "/keys/" + c.target
			}
			want := c.p.role.grants(c.g.Action) && covers(c.p.assignedAt, target)
			st, b, err := s.Call(c.p.token, c.rt.Method, base+pathFor(c.rt.Pattern, c.target), bodyFor(c.rt.Operation))
			var e wire.Error
			_ = json.Unmarshal(b, &e)
			denied := e.Error.Code == "AccessDenied"
			mu.Lock()
			defer mu.Unlock()
			actionsSeen[c.g.Action] = true
			if err != nil || st == http.StatusUnauthorized || denied == want || (denied && st != http.StatusForbidden) {
				failures++
				if failures <= 20 {
					t.Errorf("%s %s (%s at %s) %s %s on %s: status %d code %q, want allowed=%v (err %v)",
						c.p.kind, c.p.role.Name, c.rt.Operation, c.p.assignedAt, c.rt.Method, c.rt.Pattern, target, st, e.Error.Code, want, err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d cells (%d principals × %d routes/targets), %d failures, %v", len(cells), len(ps), len(cells)/len(ps), failures, time.Since(start))
	for _, g := range golden {
		if !actionsSeen[g.Action] {
			t.Errorf("action %s never exercised", g.Action)
		}
	}
}

// kind makes principals of one kind: it returns an object id to assign and
// a data-plane token that authenticates as that principal.
type kind struct {
	name string
	make func(t *testing.T) (oid, token string)
}

func principalKinds(t *testing.T, s *testserver.Server) []kind {
	dir := s.App.Directory()
	tid := s.Dev.TenantID
	n := 0
	sp := kind{name: "service principal", make: func(t *testing.T) (string, string) {
		n++
		p, err := dir.CreateServicePrincipal(context.Background(), tid, fmt.Sprintf("matrix-%d", n))
		if err != nil {
			t.Fatal(err)
		}
		secret, err := dir.AddSecret(context.Background(), tid, p.AppID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Token(p.AppID, secret, "managedhsm")
		if err != nil {
			t.Fatal(err)
		}
		return p.ObjectID, tok
	}}
	userN := 0
	newUser := func(t *testing.T) (string, string) {
		userN++
		upn := fmt.Sprintf("matrix-user-%d@%s", userN, s.Config().Domain)
		u, err := dir.CreateUser(context.Background(), tid, directory.NewUser{UserPrincipalName: upn, DisplayName: upn,
			MailNickname: fmt.Sprintf("mu%d", userN), Password: seedPassword, AccountEnabled: true})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.PasswordToken(upn, seedPassword, "managedhsm")
		if err != nil {
			t.Fatal(err)
		}
		return u.ID, tok
	}
	user := kind{name: "user", make: newUser}
	viaGroup := kind{name: "user via group", make: func(t *testing.T) (string, string) {
		uid, tok := newUser(t)
		// Nested: user ∈ inner ∈ outer; the role goes to outer.
		inner, err := dir.CreateGroup(context.Background(), tid, directory.NewGroup{DisplayName: "inner-" + uid, MailNickname: "i" + uid[:8]})
		if err != nil {
			t.Fatal(err)
		}
		outer, err := dir.CreateGroup(context.Background(), tid, directory.NewGroup{DisplayName: "outer-" + uid, MailNickname: "o" + uid[:8]})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range [][2]string{{inner.ID, uid}, {outer.ID, inner.ID}} {
			if err := dir.AddMember(context.Background(), tid, m[0], m[1]); err != nil {
				t.Fatal(err)
			}
		}
		return outer.ID, tok
	}}
	miN := 0
	mi := kind{name: "managed identity", make: func(t *testing.T) (string, string) {
		miN++
		id, header, err := dir.CreateIdentity(context.Background(), tid, fmt.Sprintf("matrix-mi-%d", miN))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.IdentityToken(header, "managedhsm")
		if err != nil {
			t.Fatal(err)
		}
		return id.PrincipalID, tok
	}}
	return []kind{sp, user, viaGroup, mi}
}
