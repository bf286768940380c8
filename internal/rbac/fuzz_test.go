package rbac

import (
	"strings"
	"testing"
)

// FuzzCanonicalScope checks the scope canonicaliser and the decision
// that uses it: the canonical form is one of "/" and "/keys/{name}" with
// a lower-case valid name, canonicalising it again changes nothing, no
// spelling resolves "..", and a grant at "/keys/a" is never a grant at
// "/keys/ab" (or at any scope whose canonical form is not "/keys/a").
func FuzzCanonicalScope(f *testing.F) {
	for _, s := range []string{"/", "/keys", "/keys/", "/keys/a", "/KEYS/A", "//keys//a//", "/keys/a/..", "/keys/../a",
		"/keys/%2e%2e", "/keys/a%2Fb", "/keys%2Fa", "/keys/ab", "/keys/a b", "/keys/%61", "/keys/a/versions", "keys/a",
		"/keys/\u212a", "%", "/keys/a%252e"} {
		f.Add(s)
	}
	const oid = "11111111-1111-1111-1111-111111111111"
	p := Compile(BuiltinRoles, []RoleAssignment{{ID: "x", Scope: "/keys/a", RoleDefinitionID: RoleCryptoUser, PrincipalID: oid}})
	pr := Principal{ObjectID: oid}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalScope(s)
		if err != nil {
			if c != "" {
				t.Fatalf("error with result %q", c)
			}
			return
		}
		if c != "/" && c != "/keys" && !(strings.HasPrefix(c, "/keys/") && KeyNamePattern.MatchString(c[6:]) && c == strings.ToLower(c)) {
			t.Fatalf("CanonicalScope(%q) = %q: not canonical", s, c)
		}
		if again, err := CanonicalScope(c); err != nil || again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, c, again, err)
		}
		if strings.Contains(c, "..") {
			t.Fatalf("CanonicalScope(%q) = %q", s, c)
		}
		if d := p.Decide(pr, KeysRead, c); d.Allowed != (c == "/keys/a") {
			t.Fatalf("grant at /keys/a decides %v at %q (from %q)", d.Allowed, c, s)
		}
		if c != "/" {
			if longer, err := CanonicalScope(s + "b"); err == nil && longer == c {
				t.Fatalf("%q and %q are the same scope %q", s, s+"b", c)
			}
		}
	})
}
