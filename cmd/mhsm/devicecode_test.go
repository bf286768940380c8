package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/testserver"
)

// TestLoginDeviceCode: `mhsm login --use-device-code` prints the page and
// the code; a user enters them with a password in a browser-like client;
// the CLI is then signed in as that user and refreshes its tokens.
func TestLoginDeviceCode(t *testing.T) {
	s := testserver.Start(t, nil)
	t.Setenv("MHSM_CONFIG_DIR", t.TempDir())
	t.Setenv("MHSM_CA_FILE", s.Dev.CAFile)
	t.Setenv("MHSM_CONNECT", s.Addr)
	upn := "ada@" + s.Config().Domain
	if _, err := s.App.Directory().CreateUser(context.Background(), s.Dev.TenantID, directory.NewUser{UserPrincipalName: upn, DisplayName: "Ada",
		MailNickname: "ada", Password: "Analytical-Engine-1843", AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var out strings.Builder
	go func() {
		done <- Run(context.Background(), []string{"login", "--use-device-code", "--tenant", s.Config().Domain, "--authority", s.URL("login")}, &out, pw)
		pw.Close()
	}()
	msg := regexp.MustCompile(`open the page (\S+) and enter the code ([A-Z]{4}-[A-Z]{4})`)
	sc := bufio.NewScanner(pr)
	var page, code string
	for sc.Scan() {
		if m := msg.FindStringSubmatch(sc.Text()); m != nil {
			page, code = m[1], m[2]
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if code == "" {
		t.Fatalf("no device code message; login returned %v", <-done)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: s.Transport(), Jar: jar}
	resp, err := c.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
	if csrf == nil {
		t.Fatalf("verification page: %d %s", resp.StatusCode, b)
	}
	resp, err = c.PostForm(page, url.Values{"csrf": {string(csrf[1])}, "user_code": {code}, "username": {upn}, "password": {"Analytical-Engine-1843"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("approve: %v %v", resp, err)
	}
	resp.Body.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("login did not finish")
	}
	if !strings.Contains(out.String(), upn) {
		t.Fatalf("login output: %s", out.String())
	}
	got := mustCLI(t, "account", "show", "--query", "user.name", "-o", "tsv")
	if strings.TrimSpace(got) != upn {
		t.Fatalf("account show: %q", got)
	}
	// A token for another resource comes from the stored refresh token.
	if out := mustCLI(t, "account", "get-access-token", "--resource-type", "managedhsm", "--query", "accessToken", "-o", "tsv"); len(strings.TrimSpace(out)) < 100 {
		t.Fatalf("get-access-token: %q", out)
	}
}
