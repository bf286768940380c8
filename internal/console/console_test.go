package console

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	for path, want := range map[string]string{
		"/": "text/html; charset=utf-8", "/callback": "text/html; charset=utf-8", "/app.js": "text/javascript; charset=utf-8",
		"/style.css": "text/css; charset=utf-8", "/keys.js": "text/javascript; charset=utf-8",
	} {
		if f := Lookup(path); f == nil || f.ContentType != want || len(f.Body) == 0 {
			t.Errorf("%s: %+v", path, f)
		}
	}
	for _, path := range []string{"/console.go", "/../console.go", "/assets/app.js", "/nope.js", "/index.htm", "/callback/x", "//app.js/.."} {
		if f := Lookup(path); f != nil {
			t.Errorf("%s served", path)
		}
	}
}

// TestAssetsPolicy pins what the CSP and the token rules need of the
// files: no inline script or style, no event-handler attributes, no
// persistent storage (only the PKCE verifier and state in
// sessionStorage, under one key), no other origin.
func TestAssetsPolicy(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(?:\s+type="module")?>|<style|\sstyle=|\son[a-z]+=|javascript:`)
	external := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`)
	storage := regexp.MustCompile(`sessionStorage\.(\w+)\("([^"]*)"`)
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(assets, p)
		s := string(b)
		if strings.HasSuffix(p, ".html") && (inline.MatchString(s) || external.MatchString(s)) {
			t.Errorf("%s: inline script/style or external resource", p)
		}
		if strings.Contains(s, "localStorage") || strings.Contains(s, "indexedDB") || strings.Contains(s, "document.cookie") {
			t.Errorf("%s: persistent storage", p)
		}
		if strings.Contains(s, "innerHTML") || strings.Contains(s, "eval(") {
			t.Errorf("%s: innerHTML or eval", p)
		}
		for _, m := range storage.FindAllStringSubmatch(s, -1) {
			if m[2] != "mhsm.pkce" {
				t.Errorf("%s: sessionStorage.%s(%q)", p, m[1], m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
