package jsclient

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/testserver"
)

// TestJSRequestShapes replays, without node, the requests of
// @azure/keyvault-keys 4.10.2 whose shape differs from what the Go SDK
// sends (captured from keys.mjs), so they stay served on machines without
// node too: the escaped "api%2Dversion" key, a bodiless unauthenticated
// first request for the challenge, "/keys/<n>/" for the latest version,
// "/keys/<n>//sign", nextLink followed verbatim, import's capitalised
// "Hsm", a release policy without contentType, and the rotation policy's
// "attributes.expiryTime".
func TestJSRequestShapes(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, nil)
	tok, err := s.DevToken()
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(s.Dev.HSMURL, "/")
	const q = "?api%2Dversion=2025-07-01"
	b64 := base64.RawURLEncoding.EncodeToString
	call := func(tok, method, path string, body any, want int) map[string]any {
		t.Helper()
		u := path
		if !strings.HasPrefix(u, "https://") {
			u = base + path
		}
		st, b, err := s.Call(tok, method, u, body)
		if err != nil || st != want {
			t.Fatalf("%s %s: %d (want %d) %v %s", method, path, st, want, err, b)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}

	// The challenge: the SDK's first request has no token and no body.
	hr, err := http.NewRequest("POST", base+"/keys/js-rsa/create"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := `Bearer authorization="` + s.URL("login") + "/" + s.Dev.TenantID + `", resource="` + s.URL("managedhsm") + `"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("challenge: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}

	call(tok, "POST", "/keys/js-rsa/create"+q, `{"kty":"RSA-HSM","key_size":2048,"attributes":{},"tags":{"purpose":"jsclient"}}`, 200)
	call(tok, "POST", "/keys/js-ec/create"+q, `{"kty":"EC-HSM","attributes":{},"crv":"P-256"}`, 200)
	latest := call(tok, "GET", "/keys/js-rsa/"+q, nil, 200)
	kid, _ := latest["key"].(map[string]any)["kid"].(string)
	if !strings.HasPrefix(kid, base+"/keys/js-rsa/") {
		t.Fatalf("kid %q", kid)
	}
	digest := b64(make([]byte, 32))
	sig := call(tok, "POST", "/keys/js-rsa//sign"+q, `{"alg":"PS256","value":"`+digest+`"}`, 200)
	if sig["kid"] != kid {
		t.Errorf("sign kid %v, want %s", sig["kid"], kid)
	}

	// Paging: the SDK asks for one a page and follows nextLink as given.
	page := call(tok, "GET", "/keys"+q+"&maxresults=1", nil, 200)
	next, _ := page["nextLink"].(string)
	if next == "" || len(page["value"].([]any)) != 1 {
		t.Fatalf("first page: %v", page)
	}
	page2 := call(tok, "GET", next, nil, 200)
	if len(page2["value"].([]any)) != 1 {
		t.Fatalf("second page: %v", page2)
	}

	// importKey sends "Hsm" (capitalised), not "hsm".
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k.Precompute()
	bi := func(n *big.Int) string { return b64(n.Bytes()) }
	imp := `{"Hsm":true,"key":{"kty":"RSA","key_ops":["sign","verify"],"n":"` + bi(k.N) + `","e":"AQAB","d":"` + bi(k.D) +
		`","p":"` + bi(k.Primes[0]) + `","q":"` + bi(k.Primes[1]) + `","dp":"` + bi(k.Precomputed.Dp) + `","dq":"` + bi(k.Precomputed.Dq) +
		`","qi":"` + bi(k.Precomputed.Qinv) + `"}}`
	got := call(tok, "PUT", "/keys/js-imp"+q, imp, 200)
	if kty := got["key"].(map[string]any)["kty"]; kty != "RSA-HSM" {
		t.Errorf("imported kty %v", kty)
	}

	// A release policy as the SDK sends it: data only, no contentType.
	policy := `{"version":"1.0.0","anyOf":[{"authority":"` + s.URL("login") + "/" + s.Dev.TenantID + `/v2.0","allOf":[{"claim":"tid","equals":"x"}]}]}`
	call(tok, "POST", "/keys/js-rel/create"+q,
		`{"kty":"EC-HSM","attributes":{"exportable":true},"crv":"P-256","release_policy":{"data":"`+b64([]byte(policy))+`"}}`, 200)

	rp := call(tok, "PUT", "/keys/js-rsa/rotationpolicy"+q,
		`{"lifetimeActions":[{"trigger":{"timeBeforeExpiry":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P90D"}}`, 200)
	if a, _ := rp["attributes"].(map[string]any); a["expiryTime"] != "P90D" {
		t.Errorf("rotation policy attributes %v", rp["attributes"])
	}
	call(tok, "POST", "/keys/js-rsa/rotate"+q, nil, 200)
	call(tok, "POST", "/rng"+q, `{"count":32}`, 200)
}
