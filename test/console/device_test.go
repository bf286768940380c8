package console

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/directory"
)

// approveDevice enters userCode with user's credentials on the
// verification page, as a browser does, and returns status and body.
func approveDevice(t *testing.T, w *world, verifyURI, userCode, user, pass string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: w.s.Transport(), Jar: jar}
	resp, err := c.Get(verifyURI)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(b)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("verification page: %d %s", resp.StatusCode, b)
	}
	resp, err = c.PostForm(verifyURI, url.Values{"csrf": {string(m[1])}, "user_code": {userCode}, "username": {user}, "password": {pass}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ = io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postJSON(t *testing.T, w *world, u string, f url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := w.s.Client().PostForm(u, f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestDeviceCodeFlow: a public client gets a code; polling says pending;
// a wrong password and a wrong code get one answer; the right user
// approves; the client gets the user's tokens once.
func TestDeviceCodeFlow(t *testing.T) {
	w := newWorld(t)
	base := w.s.URL("login") + "/" + w.s.Dev.TenantID + "/oauth2/v2.0/"
	scope := w.s.URL("managedhsm") + "/.default offline_access"
	if st, m := postJSON(t, w, base+"devicecode", url.Values{"client_id": {w.s.Dev.ClientID}, "scope": {scope}}); st != 401 {
		t.Fatalf("confidential client got a device code: %d %v", st, m)
	}
	st, dc := postJSON(t, w, base+"devicecode", url.Values{"client_id": {directory.MHSMCLIClientID}, "scope": {scope}})
	code, _ := dc["device_code"].(string)
	userCode, _ := dc["user_code"].(string)
	verify, _ := dc["verification_uri"].(string)
	if st != 200 || code == "" || len(userCode) != 9 || verify != base+"deviceauth" || !strings.Contains(dc["message"].(string), userCode) {
		t.Fatalf("devicecode: %d %v", st, dc)
	}
	poll := func() (int, map[string]any) {
		return postJSON(t, w, base+"token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
			"client_id": {directory.MHSMCLIClientID}, "device_code": {code}})
	}
	if st, m := poll(); st != 400 || m["error"] != "authorization_pending" {
		t.Fatalf("before approval: %d %v", st, m)
	}
	st1, b1 := approveDevice(t, w, verify, userCode, w.upn("erin"), "wrong")
	st2, b2 := approveDevice(t, w, verify, "BCDF-GHJK", w.upn("erin"), password)
	st3, b3 := approveDevice(t, w, verify, userCode, "nobody@"+w.s.Config().Domain, password)
	strip := func(s string) string { return volatile.ReplaceAllString(regexpUserCode.ReplaceAllString(s, ""), "") }
	if st1 != 400 || st1 != st2 || st2 != st3 || strip(b1) != strip(b2) || strip(b2) != strip(b3) || !strings.Contains(b1, "incorrect") {
		t.Fatalf("failures differ: %d %d %d\n%s\n%s\n%s", st1, st2, st3, strip(b1), strip(b2), strip(b3))
	}
	if st, m := poll(); st != 400 || m["error"] != "authorization_pending" {
		t.Fatalf("after failed approvals: %d %v", st, m)
	}
	if st, b := approveDevice(t, w, verify, strings.ToLower(userCode), w.upn("erin"), password); st != 200 || !strings.Contains(b, "signed in") {
		t.Fatalf("approve: %d %s", st, b)
	}
	st, m := poll()
	at, _ := m["access_token"].(string)
	if st != 200 || at == "" || m["refresh_token"] == nil {
		t.Fatalf("token: %d %v", st, m)
	}
	if st, b, _ := w.s.Call(at, "GET", w.base+"/keys?api-version=7.6", nil); st != 200 {
		t.Fatalf("erin's token: %d %s", st, b)
	}
	if st, m := poll(); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("second redemption: %d %v", st, m)
	}
}

var regexpUserCode = regexp.MustCompile(`name="user_code"[^>]*>`)
