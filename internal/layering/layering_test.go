package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mhsm/mhsm/"

// pure are the packages below the HTTP edge: none may depend on net/http,
// directly or through another package, so that HTTP concerns (statuses,
// headers, bodies) stay at the edge.
var pure = map[string]string{
	"internal/armrbac":        "management actions and decisions are pure",
	"internal/barrier":        "envelope encryption is pure",
	"internal/config":         "configuration is plain data",
	"internal/directory":      "the directory is a service below the edge",
	"internal/hsm":            "data-plane use cases are below the edge",
	"internal/keys":           "key material and crypto are pure",
	"internal/mgmt":           "the management plane's services are below the edge",
	"internal/rbac":           "data actions and decisions are pure",
	"internal/securitydomain": "security-domain formats are pure",
	"internal/store":          "storage is below the edge",
	"internal/strictjson":     "the JSON decoder is pure",
	"internal/throttle":       "token buckets are pure",
	"internal/token":          "the issuer and verifier are services below the edge",
	"internal/wire":           "wire types are plain data",
}

// appImporters may import internal/app, the composition root.
var appImporters = map[string]bool{
	"cmd/mhsm":            true,
	"internal/testserver": true,
	"internal/app":        true, // its own tests
}

type listed struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

// goList lists every package of the module with its imports and deps.
func goList(t *testing.T) []listed {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list imports: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-json", module+"...")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(&out)
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		p.ImportPath = strings.TrimPrefix(p.ImportPath, module)
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; expected the whole module", len(pkgs))
	}
	return pkgs
}

func TestPurePackagesHaveNoHTTP(t *testing.T) {
	found := map[string]bool{}
	for _, p := range goList(t) {
		reason, ok := pure[p.ImportPath]
		if !ok {
			continue
		}
		found[p.ImportPath] = true
		for _, d := range p.Deps {
			if d == "net/http" {
				t.Errorf("%s depends on net/http (%s): %s", p.ImportPath, via(p, "net/http"), reason)
			}
		}
	}
	for p := range pure {
		if !found[p] {
			t.Errorf("pure package %s no longer exists: update the list", p)
		}
	}
}

func TestOnlyRootUsersImportApp(t *testing.T) {
	for _, p := range goList(t) {
		if appImporters[p.ImportPath] {
			continue
		}
		for _, list := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
			for _, imp := range list {
				if imp == module+"internal/app" {
					t.Errorf("%s imports internal/app: only cmd/mhsm and internal/testserver may (use internal/testserver in tests)", p.ImportPath)
				}
			}
		}
	}
}

// via names the direct imports of p, to start the search for the path
// that brings in dep.
func via(p listed, dep string) string {
	for _, imp := range p.Imports {
		if imp == dep {
			return "directly"
		}
	}
	return "through one of " + strings.Join(p.Imports, ", ")
}
