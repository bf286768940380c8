package console

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser: it fails the test when MHSM_REQUIRE_CHROMIUM
// is set (scripts/test.sh) and skips it otherwise.
func chromium(t *testing.T) string {
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("MHSM_REQUIRE_CHROMIUM") != "" {
		t.Fatal("chromium not found and MHSM_REQUIRE_CHROMIUM is set")
	}
	t.Skip("chromium not found")
	return ""
}

// shots is the folder screenshots go to: $MHSM_SCREENSHOTS, or a
// temporary folder.
func shots(t *testing.T) string {
	if d := os.Getenv("MHSM_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// leafSPKI is the base64 SHA-256 of the server leaf's public key, for
// --ignore-certificate-errors-spki-list (Chromium then trusts that key
// only, not every certificate).
func leafSPKI(t *testing.T, w *world) string {
	conn, err := tls.Dial("tcp", w.s.Addr, &tls.Config{RootCAs: w.s.Pool, ServerName: "console." + w.s.Config().Domain})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	if err := leaf.VerifyHostname("console." + w.s.Config().Domain); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// browser starts a fresh headless Chromium (its own profile: no cookies
// shared between users) that resolves every *.<domain> name to the
// server.
func browser(t *testing.T, w *world) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("host-resolver-rules", "MAP *."+w.s.Config().Domain+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", leafSPKI(t, w)),
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
		chromedp.WindowSize(1280, 860),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// signIn goes to the console, signs user in on the login page and waits
// for the console to show who is signed in.
func signIn(t *testing.T, ctx context.Context, w *world, user string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(w.s.URL("console")+"/"),
		chromedp.WaitVisible(chromedp.CSS("#signin-button")),
		chromedp.Click(chromedp.CSS("#signin-button")),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#username"), w.upn(user)),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#nav")),
	)
	if err != nil {
		t.Fatalf("%s signs in: %v (status %q)", user, err, text(t, ctx, "#status"))
	}
	who := text(t, ctx, "#who")
	if !strings.Contains(who, w.upn(user)) {
		t.Fatalf("signed in as %q, want %s", who, w.upn(user))
	}
}

// open shows a console page and waits for sel.
func open(t *testing.T, ctx context.Context, w *world, hash, sel string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.Evaluate[chromedp.Void](`{ const h = `+jsString(hash)+`; document.getElementById("main").replaceChildren();
		if (location.hash === h) window.dispatchEvent(new HashChangeEvent("hashchange")); else location.hash = h; }`), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("open %s: %v (status %q)", hash, err, text(t, ctx, "#status"))
	}
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+jsString(sel)+`)||{}).textContent||""`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConsoleAuditor: the auditor sees keys, the access matrix and the
// role assignments, gets no create, rotate or add button, and a forced
// create is refused by the server.
func TestConsoleAuditor(t *testing.T) {
	w := newWorld(t)
	dir := shots(t)
	ctx := browser(t, w)
	signIn(t, ctx, w, "erin")
	open(t, ctx, w, "#/hsms", `#hsm-table a[href="#/keys?hsm=dev"]`)
	if s := text(t, ctx, "#hsm-table"); !strings.Contains(s, "Active") || !strings.Contains(s, w.s.Dev.ResourceGroup) {
		t.Errorf("HSM row: %q", s)
	}
	shot(t, ctx, dir, "hsms")
	open(t, ctx, w, "#/keys?hsm=dev", `#key-table tr[data-key="app-signing"]`)
	shot(t, ctx, dir, "keys-auditor")
	if n := count(t, ctx, "#create-key, [data-rotate], [data-disable]"); n != 0 {
		t.Errorf("auditor sees %d create/rotate/disable controls", n)
	}
	if s := text(t, ctx, `tr[data-key="app-signing"] td.soon`); !strings.Contains(s, "soon") {
		t.Errorf("expiry in 10 days not highlighted: %q", s)
	}
	if s := text(t, ctx, `tr[data-key="app-signing"]`); !strings.Contains(s, "EC-HSM") || !strings.Contains(s, "owner=payments") {
		t.Errorf("key row: %q", s)
	}
	// Forced call from the page, with the auditor's in-memory token.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`import("/app.js").then(m => m.hsmCall("dev", "POST", "/keys/forced/create", {kty: "EC-HSM"}))
		.then(() => "created", e => e.status + " " + e.code)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if got != "403 Forbidden" && got != "403 AccessDenied" {
		t.Errorf("forced create: %q, want a 403 refusal", got)
	}
	if st, _, _ := w.s.Call(w.admin, "GET", w.base+"/keys/forced?api-version=7.6", nil); st != 404 {
		t.Errorf("forced key exists: %d", st)
	}
	open(t, ctx, w, "#/access?hsm=dev", "#access-matrix")
	matrix := text(t, ctx, "#access-matrix")
	for _, want := range []string{w.oids["alice"], w.oids["erin"], "Crypto User", "Crypto Auditor", "via group", "assignment …"} {
		if !strings.Contains(matrix, want) {
			t.Errorf("access matrix lacks %q", want)
		}
	}
	if strings.Contains(matrix, w.oids["dave"]) {
		t.Error("access matrix lists dave, who has no role")
	}
	shot(t, ctx, dir, "access-matrix")
	open(t, ctx, w, "#/roles?hsm=dev", "#assignments")
	if n := count(t, ctx, "#add-assignment"); n != 0 {
		t.Error("auditor gets the add-assignment form")
	}
	shot(t, ctx, dir, "roles")
	// The timeline: the forced create is there, refused, as erin's; the
	// chain verifies; filtering by principal shows only erin's calls.
	open(t, ctx, w, "#/audit?hsm=dev", "#audit-chart rect.bar-denied")
	if s := text(t, ctx, "#chain"); !strings.Contains(s, "Hash chain checked, no problems") {
		t.Errorf("chain status: %q", s)
	}
	rows := text(t, ctx, "#audit-table")
	if !strings.Contains(rows, "KeyCreate") || !strings.Contains(rows, w.upn("erin")) || !strings.Contains(rows, "403") {
		t.Errorf("timeline lacks erin's refused KeyCreate")
	}
	shot(t, ctx, dir, "audit")
	open(t, ctx, w, "#/audit?hsm=dev&principal="+w.upn("erin")+"&result=403", "#audit-table")
	n := count(t, ctx, "#audit-table tr.denied")
	if all := count(t, ctx, "#audit-table tr") - 1; n == 0 || n != all {
		t.Errorf("filter erin+403: %d denied of %d rows", n, all)
	}
	if s := text(t, ctx, "#audit-table"); strings.Contains(s, w.upn("alice")) || strings.Contains(s, "KeyRotationPolicySet") {
		t.Error("filter by principal shows other callers")
	}
}

// TestConsoleNoRole: a user without a role signs in and is shown the
// refusal, no keys and no controls.
func TestConsoleNoRole(t *testing.T) {
	w := newWorld(t)
	ctx := browser(t, w)
	signIn(t, ctx, w, "dave")
	open(t, ctx, w, "#/hsms", "#hsm-table")
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.getElementById("hsm-table").textContent.includes("No HSM is visible")`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("dave's HSM list: %q", text(t, ctx, "#hsm-table"))
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`location.hash = "#/keys?hsm=dev"`),
		chromedp.WaitVisible(chromedp.CSS("#status.error"))); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ctx, `tr[data-key], [data-rotate]`); n != 0 {
		t.Errorf("dave sees %d keys or controls", n)
	}
	if s := text(t, ctx, "#status"); !strings.Contains(strings.ToLower(s), "not") {
		t.Errorf("refusal not shown: %q", s)
	}
}

// TestConsoleSecurityTeamRotates: alice rotates app-signing from the
// keys page; the server shows the new version.
func TestConsoleSecurityTeamRotates(t *testing.T) {
	w := newWorld(t)
	dir := shots(t)
	ctx := browser(t, w)
	signIn(t, ctx, w, "alice")
	open(t, ctx, w, "#/keys?hsm=dev", `[data-rotate="app-signing"]`)
	if n := count(t, ctx, "#create-key"); n != 1 {
		t.Error("security team has no create form")
	}
	if s := text(t, ctx, `[data-versions="app-signing"]`); s != "1" {
		t.Fatalf("versions before: %q", s)
	}
	err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-rotate="app-signing"]`)),
		chromedp.Poll[chromedp.Void](`(document.querySelector('[data-versions="app-signing"]')||{}).textContent === "2"`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("rotate: %v (status %q)", err, text(t, ctx, "#status"))
	}
	shot(t, ctx, dir, "keys")
	st, b, _ := w.s.Call(w.admin, "GET", w.base+"/keys/app-signing/versions?api-version=7.6", nil)
	var v struct{ Value []any }
	_ = json.Unmarshal(b, &v)
	if st != 200 || len(v.Value) != 2 {
		t.Fatalf("versions on the server: %d %s", st, b)
	}
	// She grants dave Crypto Auditor from the role page, then removes it.
	open(t, ctx, w, "#/roles?hsm=dev", "#add-assignment")
	dave := w.oids["dave"]
	err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#principal"), dave),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("role").value = [...document.querySelectorAll("#role option")].find(o => o.textContent === "Managed HSM Crypto Auditor").value`),
		chromedp.Click(chromedp.CSS(`#add-assignment button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-remove-principal="`+dave+`"]`)))
	if err != nil {
		t.Fatalf("add assignment: %v (status %q)", err, text(t, ctx, "#status"))
	}
	if !daveCan(t, w) {
		t.Fatal("dave cannot read keys after the grant")
	}
	err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-remove-principal="`+dave+`"]`)),
		chromedp.Poll[chromedp.Void](`!document.querySelector('[data-remove-principal="`+dave+`"]') && document.getElementById("assignments")`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("remove assignment: %v (status %q)", err, text(t, ctx, "#status"))
	}
	if daveCan(t, w) {
		t.Fatal("dave still reads keys after the removal")
	}
}

// daveCan asks the access review API (as the dev administrator) whether
// dave may read keys.
func daveCan(t *testing.T, w *world) bool {
	t.Helper()
	st, b, err := w.s.Call(w.admin, "POST", w.base+"/mhsm/access/check?api-version=7.6",
		map[string]string{"principalId": w.oids["dave"], "action": "Microsoft.KeyVault/managedHsm/keys/read/action", "scope": "/"})
	var r struct{ Allowed bool }
	if err != nil || st != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("access check: %d %s %v", st, b, err)
	}
	return r.Allowed
}
