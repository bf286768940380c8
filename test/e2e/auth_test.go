package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// rawDo sends a request to the dev HSM's host with an optional bearer token
// and returns the status, headers and body.
func rawDo(t testing.TB, s *server, method, pathQuery, bearer, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, "https://"+s.hsmHost()+pathQuery, rd)
	must(t, err, "NewRequest")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.httpClient().Do(req)
	must(t, err, method+" "+pathQuery)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err, "read body")
	return resp.StatusCode, resp.Header, b
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	s, _ := shared(t)
	wantChallenge := `Bearer authorization="https://` + s.host("login") + "/" + s.dev.TenantID +
		`", resource="https://` + s.host("managedhsm") + `"`
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/keys?api-version=7.6", ""},
		{"POST", "/keys/k1/create?api-version=2025-07-01", `{"kty":"EC-HSM","crv":"P-256"}`},
		{"POST", "/keys/k1/0123456789abcdef0123456789abcdef/sign?api-version=7.4", `{"alg":"ES256","value":"AAAA"}`},
		{"POST", "/rng?api-version=7.6", `{"count":8}`},
	} {
		code, h, body := rawDo(t, s, rq.method, rq.path, "", rq.body)
		if code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d %s", rq.method, rq.path, code, body)
			continue
		}
		if got := h.Get("WWW-Authenticate"); got != wantChallenge {
			t.Errorf("challenge\n got %s\nwant %s", got, wantChallenge)
		}
	}

	// Bad tokens are refused the same way.
	other := s.token(t, s.dev.ManagementURL)
	good := s.token(t, "https://"+s.host("managedhsm"))
	for label, tok := range map[string]string{
		"management audience": other,
		"garbage":             "not.a.jwt",
		"tampered":            good[:len(good)-4] + "AAAA",
	} {
		code, h, body := rawDo(t, s, "GET", "/keys?api-version=7.6", tok, "")
		if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") != wantChallenge {
			t.Errorf("%s token: %d %q %s", label, code, h.Get("WWW-Authenticate"), body)
		}
	}
	// The right audience works over plain HTTP too.
	if code, _, body := rawDo(t, s, "GET", "/keys?api-version=7.6", good, ""); code != http.StatusOK {
		t.Errorf("good token: %d %s", code, body)
	}
	// A wrong client secret gets no token.
	cred := s.credential(t, "wrong-secret")
	if _, err := cred.GetToken(ctxT(t), tokenOpts("https://"+s.host("managedhsm"))); err == nil {
		t.Error("token issued for a wrong client secret")
	}
}

func TestAPIVersions(t *testing.T) {
	t.Parallel()
	s, c := shared(t)
	ctx := ctxT(t)
	n := name("apiv")
	createKey(t, ctx, c, n, ecParams("P-256"))
	latest := createKey(t, ctx, c, n, ecParams("P-256"))
	want := string(*latest.Key.KID)
	tok := s.token(t, "https://"+s.host("managedhsm"))
	kidOf := func(b []byte) string {
		var kb struct {
			Key struct {
				Kid string `json:"kid"`
			} `json:"key"`
		}
		_ = json.Unmarshal(b, &kb)
		return kb.Key.Kid
	}
	for _, q := range []string{"api-version=7.2", "api-version=7.4-preview.1", "api-version=2025-07-01", "api%2Dversion=7.6", "api-version=7.5"} {
		code, _, body := rawDo(t, s, "GET", "/keys/"+n+"?"+q, tok, "")
		if code != http.StatusOK || kidOf(body) != want {
			t.Errorf("GET with %s: %d %s", q, code, body)
		}
		code, _, body = rawDo(t, s, "POST", "/keys/"+n+"/"+latest.Key.KID.Version()+"/sign?"+q, tok,
			`{"alg":"ES256","value":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}`)
		if code != http.StatusOK {
			t.Errorf("sign with %s: %d %s", q, code, body)
		}
	}
	// Double slash and an empty version mean the latest.
	for _, p := range []string{"//keys/" + n + "/", "/keys/" + n + "//", "/keys/" + n + "/"} {
		code, _, body := rawDo(t, s, "GET", p+"?api-version=7.6", tok, "")
		if code != http.StatusOK || kidOf(body) != want {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
	code, _, body := rawDo(t, s, "POST", "//keys/"+n+"//sign?api-version=7.6", tok,
		`{"alg":"ES256","value":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}`)
	if code != http.StatusOK || !strings.Contains(string(body), want) {
		t.Errorf("POST //keys/n//sign: %d %s", code, body)
	}
}
