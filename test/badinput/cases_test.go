package badinput

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/httpapi"
	"github.com/mhsm/mhsm/internal/testserver"
)

// env names what the sweep created first (one key of each type) and the
// dev tenant's management and Graph access.
type env struct {
	keys          []string // oct, EC, RSA
	login         string   // login host
	tenant        string
	mgmt, graph   string // hosts
	mgmtToken     string
	graphToken    string
	subscription  string
	resourceGroup string
}

func prepare(t *testing.T, srv *testserver.Server, tok string) env {
	t.Helper()
	host := func(sub string) string { return strings.TrimPrefix(srv.URL(sub), "https://") }
	e := env{keys: []string{"sw-oct", "sw-ec", "sw-rsa"}, login: host("login"), tenant: srv.Dev.TenantID,
		mgmt: host("management"), graph: host("graph")}
	var err error
	if e.mgmtToken, err = srv.Token(srv.Dev.ClientID, srv.Dev.ClientSecret, "management"); err != nil {
		t.Fatal(err)
	}
	if e.graphToken, err = srv.Token(srv.Dev.ClientID, srv.Dev.ClientSecret, "graph"); err != nil {
		t.Fatal(err)
	}
	var dev struct {
		SubscriptionID string `json:"subscriptionId"`
		ResourceGroup  string `json:"resourceGroup"`
	}
	b, err := os.ReadFile(filepath.Join(srv.Config().DataDir, "dev.json"))
	if err != nil || json.Unmarshal(b, &dev) != nil {
		t.Fatalf("dev.json: %v", err)
	}
	e.subscription, e.resourceGroup = dev.SubscriptionID, dev.ResourceGroup
	for i, body := range []string{`{"kty":"oct-HSM","key_size":256}`, `{"kty":"EC-HSM","crv":"P-256"}`, `{"kty":"RSA-HSM","key_size":2048}`} {
		st, b, err := srv.Call(tok, "POST", srv.HSMURL("dev")+"/keys/"+e.keys[i]+"/create?api-version=7.6", body)
		if err != nil || st != 200 {
			t.Fatalf("create %s: %d %s %v", e.keys[i], st, b, err)
		}
	}
	return e
}

// badBodies are malformed or hostile JSON bodies for every body route.
func badBodies() map[string]string {
	deep := strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64)
	manyTags := make([]string, 2000)
	for i := range manyTags {
		manyTags[i] = fmt.Sprintf(`"t%d":"v"`, i)
	}
	manyOps := `{"key_ops":[` + strings.Repeat(`"sign",`, 5000) + `"sign"]}`
	return map[string]string{
		"empty object":         `{}`,
		"truncated":            `{`,
		"close only":           `}`,
		"array":                `[]`,
		"array of objects":     `[{}]`,
		"null":                 `null`,
		"number":               `123`,
		"string":               `"str"`,
		"missing value":        `{"a":}`,
		"two values":           `{}{}`,
		"trailing garbage":     `{} x`,
		"binary":               "\x00\x01\x02\xff",
		"invalid utf-8 key":    "{\"tags\":{\"\xff\":\"\xfe\"}}",
		"lone surrogate":       `{"value":"\ud800","tags":{"a":"\udfff"}}`,
		"value number":         `{"alg":"A256KW","value":1}`,
		"value object":         `{"alg":"A256KW","value":{"a":1}}`,
		"value null":           `{"alg":"A256KW","value":null}`,
		"bad base64":           `{"alg":"A256KW","value":"!!!not base64!!!"}`,
		"mixed base64":         `{"alg":"A256KW","value":"ab-_+/=="}`,
		"alg number":           `{"alg":5,"value":"AAAA"}`,
		"alg none":             `{"alg":"none","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		"alg RSA1_5":           `{"alg":"RSA1_5","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		"alg HS256":            `{"alg":"HS256","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		"alg ES256K":           `{"alg":"ES256K","value":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","digest":"AA"}`,
		"GCM short tag":        `{"alg":"A256GCM","value":"AAAA","iv":"AAAAAAAAAAAAAAAA","tag":"AA"}`,
		"CBC bad iv":           `{"alg":"A256CBCPAD","value":"AAAAAAAAAAAAAAAAAAAAAA","iv":"AA"}`,
		"kty number":           `{"kty":1}`,
		"kty object":           `{"kty":{"a":1}}`,
		"key_size overflow":    `{"kty":"RSA-HSM","key_size":99999999999999999999999}`,
		"key_size 1e309":       `{"kty":"RSA-HSM","key_size":1e309}`,
		"key_size negative":    `{"kty":"RSA-HSM","key_size":-2048}`,
		"key_size float":       `{"kty":"oct-HSM","key_size":256.5}`,
		"public_exponent huge": `{"kty":"RSA-HSM","public_exponent":4294967297}`,
		"bad curve":            `{"kty":"EC-HSM","crv":"P-1024"}`,
		"times extreme":        `{"attributes":{"exp":-9223372036854775808,"nbf":9223372036854775807}}`,
		"enabled string":       `{"attributes":{"enabled":"yes"}}`,
		"count huge":           `{"count":100000000}`,
		"count negative":       `{"count":-1}`,
		"jwk bad rsa":          `{"key":{"kty":"RSA","n":"AA","e":"AQAB","d":"AA","p":"AA","q":"AA"}}`,
		"jwk bad ec":           `{"key":{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}}`,
		"jwk oct 7 bytes":      `{"key":{"kty":"oct","k":"AAAAAAAAAA"}}`,
		"jwk key_hsm":          `{"key":{"kty":"RSA-HSM","key_hsm":"AAAA"}}`,
		"role assignment":      `{"properties":{"roleDefinitionId":"../../x","principalId":"not-a-guid","scope":"/keys/.."}}`,
		"role definition":      `{"properties":{"roleName":"","permissions":[{"dataActions":["*","../x"]}],"assignableScopes":["/keys/..","%2e%2e"]}}`,
		"setting value":        `{"value":{"nested":true}}`,
		"release target":       `{"target":"not.a.jwt","enc":"CKM_RSA_AES_KEY_WRAP","nonce":"x"}`,
		"restore garbage":      `{"value":"bWhzbS1rZXktYmFja3VwLXYxOgAAAA"}`,
		"rotation policy":      `{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P-1D","timeBeforeExpiry":"PT0S"},"action":{"type":"Explode"}}],"attributes":{"expiryTime":"P99999Y"}}`,
		"duplicate keys":       `{"kty":"oct-HSM","kty":"RSA-HSM","alg":"A256KW","alg":"RSA1_5"}`,
		"case-variant keys":    `{"kty":"oct-HSM","KTY":"RSA-HSM"}`,
		"deep nesting":         deep,
		"2000 tags":            `{"tags":{` + strings.Join(manyTags, ",") + `}}`,
		"5000 key_ops":         manyOps,
	}
}

// placeholder values for route patterns.
func fill(pattern, key string) string {
	r := strings.NewReplacer("{name}", key, "{version}", "", "{id}", "7f3b2a10-0c4e-4c6a-9d0e-1a2b3c4d5e6f",
		"{setting}", "AllowKeyManagementOperationsThroughARM")
	p := r.Replace(pattern)
	for strings.Contains(p, "{") { // any other placeholder
		i, j := strings.Index(p, "{"), strings.Index(p, "}")
		if j < i {
			break
		}
		p = p[:i] + "x" + p[j+1:]
	}
	return p + "?api-version=7.6"
}

// buildCases lists every attempt of the sweep.
func buildCases(e env) []attempt {
	var out []attempt
	out = append(out, bodyCases(e)...)
	out = append(out, armBodyCases(e)...)
	out = append(out, graphBodyCases(e)...)
	out = append(out, authCases(e)...)
	out = append(out, oversizeCases(e)...)
	out = append(out, pathCases()...)
	return out
}

// bodyCases sends every bad body to every route that reads one (each
// pattern once; crypto operations against each key type).
func bodyCases(e env) []attempt {
	var out []attempt
	seen := map[string]bool{}
	bodies := badBodies()
	for _, rt := range (&httpapi.Server{}).DataRoutes() {
		if rt.Method != "POST" && rt.Method != "PUT" && rt.Method != "PATCH" {
			continue
		}
		if strings.Contains(rt.Pattern, "{version}") || seen[rt.Method+rt.Pattern] {
			continue
		}
		seen[rt.Method+rt.Pattern] = true
		keys := e.keys[:1]
		for _, op := range []string{"/sign", "/verify", "/encrypt", "/decrypt", "/wrapkey", "/unwrapkey", "/release"} {
			if strings.HasSuffix(rt.Pattern, op) {
				keys = e.keys
			}
		}
		for _, k := range keys {
			for _, name := range sortedKeys(bodies) {
				out = append(out, attempt{Category: "body", Method: rt.Method, Target: fill(rt.Pattern, k), Body: []byte(bodies[name])})
			}
		}
	}
	return out
}

// armBodyCases sends every bad body to every management-plane route that
// reads one, in the dev subscription and resource group.
func armBodyCases(e env) []attempt {
	var out []attempt
	bodies := badBodies()
	r := strings.NewReplacer("{scope*}", "/subscriptions/"+e.subscription, "{subscriptionId}", e.subscription,
		"{resourceGroupName}", e.resourceGroup, "{name}", "sweep-hsm", "{roleId}", "7f3b2a10-0c4e-4c6a-9d0e-1a2b3c4d5e70",
		"{location}", "local", "{operationId}", "x")
	for _, rt := range (&httpapi.Server{}).ARMRoutes() {
		if rt.Method != "POST" && rt.Method != "PUT" && rt.Method != "PATCH" {
			continue
		}
		target := fill(r.Replace(rt.Pattern), "x")
		target = strings.TrimSuffix(target, "?api-version=7.6") + "?api-version=2023-07-01"
		for _, name := range sortedKeys(bodies) {
			out = append(out, attempt{Category: "arm-body", Method: rt.Method, Target: target, Host: e.mgmt,
				Header: http.Header{"Authorization": {"Bearer " + e.mgmtToken}}, Body: []byte(bodies[name])})
		}
	}
	return out
}

// graphRoute matches the write routes of the Graph route table (which
// httpapi does not export) in its source.
var graphRoute = regexp.MustCompile(`\{Method: "(POST|PATCH|PUT)", Pattern: "([^"]+)"`)

// graphBodyCases sends every bad body to every Graph route that reads one.
func graphBodyCases(e env) []attempt {
	src, err := os.ReadFile(filepath.Join("..", "..", "internal", "httpapi", "graph_routes.go"))
	if err != nil {
		return nil
	}
	var out []attempt
	bodies := badBodies()
	r := strings.NewReplacer("{kind}", "users", "$", "%24")
	for _, m := range graphRoute.FindAllStringSubmatch(string(src), -1) {
		target := strings.TrimSuffix(fill(r.Replace(m[2]), "x"), "?api-version=7.6")
		for _, name := range sortedKeys(bodies) {
			out = append(out, attempt{Category: "graph-body", Method: m[1], Target: target, Host: e.graph,
				Header: http.Header{"Authorization": {"Bearer " + e.graphToken}}, Body: []byte(bodies[name])})
		}
	}
	return out
}

// pathCases are hostile paths, queries and methods.
func pathCases() []attempt {
	var out []attempt
	for _, p := range []string{
		"/keys/..", "/keys/../keys/sw-oct", "/keys/%2e%2e/sw-oct", "/keys/%2E%2E%2Fsw-oct", "/keys/sw-oct%2F..%2F", "/keys/a%2Fb",
		"//keys//sw-oct///", "/keys/./sw-oct", "/keys/%zz", "/keys/%", "/keys/%00", "/keys/sw%00oct", "/keys/" + strings.Repeat("a", 200),
		"/keys/" + strings.Repeat("a", 128), "/keys/ünïcode", "/keys/%C3%BC", "/keys/sw-oct/versions/x/y/z", "/keys/sw-oct;x=1",
		"/keys/sw-oct?maxresults=abc", "/keys?maxresults=0", "/keys?maxresults=1e9", "/keys?maxresults=-1", "/keys?$skiptoken=%ff%fe",
		"/keys?$skiptoken=" + strings.Repeat("z", 2000), "/keys?api-version=" + strings.Repeat("9", 500), "/keys?a=%zz",
		"/providers/Microsoft.Authorization/roleAssignments?$filter=principalId%20eq%20'%27)", "/providers/Microsoft.Authorization/roleAssignments/not-a-guid",
		"/providers/Microsoft.Authorization/roleDefinitions?$filter=" + strings.Repeat("x", 3000), "/keys/sw-oct/providers/Microsoft.Authorization/roleAssignments/..",
		"/deletedkeys/..", "/deletedkeys/%2e", "/settings/..%2F..", "/", "", "*", "/\\keys\\sw-oct",
	} {
		target := p
		if !strings.Contains(p, "?") && p != "*" && p != "" {
			target += "?api-version=7.6"
		}
		if p == "" {
			target = "/"
		}
		out = append(out, attempt{Category: "path", Method: "GET", Target: target},
			// DELETE too, on a key nobody needs (the sweep keeps sw-oct).
			attempt{Category: "path", Method: "DELETE", Target: strings.ReplaceAll(target, "sw-oct", "sw-victim")})
	}
	for _, m := range []string{"BREW", "PROPFIND", "OPTIONS", "HEAD", "TRACE", "PATCH", "PUT", "POST", "DELETE", "get", "M-SEARCH"} {
		out = append(out, attempt{Category: "method", Method: m, Target: "/keys/sw-oct?api-version=7.6"})
		out = append(out, attempt{Category: "method", Method: m, Target: "/keys?api-version=7.6"})
	}
	return out
}

// authCases are bad credentials and hosts.
func authCases(e env) []attempt {
	t := "/keys/sw-oct?api-version=7.6"
	hdr := func(v ...string) http.Header { return http.Header{"Authorization": v} }
	jwtish := "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0."
	out := []attempt{
		{Category: "auth", Method: "GET", Target: t, NoAuth: true},
		{Category: "auth", Method: "GET", Target: t, Header: hdr("Bearer")},
		{Category: "auth", Method: "GET", Target: t, Header: hdr("Bearer ")},
		{Category: "auth", Method: "GET", Target: t, Header: hdr("Bearer " + jwtish)},
		{Category: "auth", Method: "GET", Target: t, Header: hdr("Bearer a.b.c")},
		{Category: "auth", Method: "GET", Target: t, Header: hdr("Bearer " + strings.Repeat("A", 20000))},
		{Category: "auth", Method: "GET", Target: t, Header: hdr("Bearer " + strings.Repeat("a.", 5000))},
		{Category: "auth", Method: "GET", Target: t, Header: hdr("Basic dXNlcjpwYXNz")},
		{Category: "auth", Method: "GET", Target: t, Header: hdr("Bearer x", "Bearer y")},
		{Category: "auth", Method: "GET", Target: t, Header: hdr("bearer\t\t" + jwtish)},
		{Category: "host", Method: "GET", Target: t, Host: "nosuch.managedhsm.mhsm.localhost"},
		{Category: "host", Method: "GET", Target: t, Host: "dev.managedhsm.mhsm.localhost.evil.example"},
		{Category: "host", Method: "GET", Target: t, Host: "a.b.managedhsm.mhsm.localhost"},
		{Category: "host", Method: "GET", Target: t, Host: ".managedhsm.mhsm.localhost"},
		{Category: "host", Method: "GET", Target: t, Host: "management.mhsm.localhost"},
		{Category: "login", Method: "POST", Target: "/" + e.tenant + "/oauth2/v2.0/token", Host: e.login, NoAuth: true,
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: []byte("grant_type=client_credentials&client_id=%zz&client_secret=" + strings.Repeat("x", 10000))},
		{Category: "login", Method: "POST", Target: "/" + e.tenant + "/oauth2/v2.0/token", Host: e.login, NoAuth: true,
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: []byte("grant_type=password&username=a&password=b&scope=" + strings.Repeat("%", 100))},
		{Category: "login", Method: "POST", Target: "/" + e.tenant + "/oauth2/v2.0/token", Host: e.login, NoAuth: true, Body: []byte(`{"grant_type":"client_credentials"}`)},
		{Category: "login", Method: "POST", Target: "/../oauth2/v2.0/token", Host: e.login, NoAuth: true},
		{Category: "login", Method: "GET", Target: "/%zz/v2.0/.well-known/openid-configuration", Host: e.login, NoAuth: true},
		{Category: "login", Method: "GET", Target: "/" + strings.Repeat("a", 5000) + "/discovery/v2.0/keys", Host: e.login, NoAuth: true},
	}
	return out
}

// oversizeCases are bodies, headers and tokens beyond every limit.
func oversizeCases(e env) []attempt {
	big := func(n int) []byte {
		return []byte(`{"alg":"A256KW","value":"` + strings.Repeat("A", n) + `"}`)
	}
	out := []attempt{
		{Category: "oversize", Method: "POST", Target: "/keys/sw-oct/wrapkey?api-version=7.6", Body: big(70 << 10)},
		{Category: "oversize", Method: "POST", Target: "/keys/sw-oct/encrypt?api-version=7.6", Body: big(1 << 20)},
		{Category: "oversize", Method: "POST", Target: "/keys/sw-oct/create?api-version=7.6", Body: big(5 << 20)},
		{Category: "oversize", Method: "POST", Target: "/keys/restore?api-version=7.6", Body: big(9 << 20)},
		{Category: "oversize", Method: "PUT", Target: "/keys/big?api-version=7.6", Body: big(100 << 10)},
		{Category: "oversize", Method: "GET", Target: "/keys/sw-oct?api-version=7.6", Header: http.Header{"X-Big": {strings.Repeat("h", 200<<10)}}},
		{Category: "oversize", Method: "GET", Target: "/keys/sw-oct?api-version=7.6", Header: manyHeaders(10000)},
		{Category: "oversize", Method: "GET", Target: "/keys/sw-oct?api-version=7.6", Header: http.Header{"Authorization": {"Bearer " + strings.Repeat("A", 17<<10)}}},
		{Category: "oversize", Method: "GET", Target: "/keys/" + strings.Repeat("k", 9000) + "?api-version=7.6"},
		{Category: "oversize", Method: "POST", Target: "/" + e.tenant + "/oauth2/v2.0/token", Host: e.login, NoAuth: true,
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: append([]byte("grant_type=client_credentials&x="), make([]byte, 2<<20)...)},
	}
	return out
}

func manyHeaders(n int) http.Header {
	h := http.Header{}
	for i := range n {
		h.Set(fmt.Sprintf("X-H-%d", i), "v")
	}
	return h
}
