package mgmt

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLayering fails when the management plane's packages import what
// they must not: the HTTP edge is the only place that speaks HTTP, and the
// authorization core stays pure.
func TestLayering(t *testing.T) {
	banned := map[string]map[string]string{
		".": {
			"net/http":                              "mgmt is below the HTTP edge; httpapi maps its errors",
			"github.com/mhsm/mhsm/internal/httpapi": "the edge depends on mgmt, not the reverse",
			"github.com/mhsm/mhsm/internal/app":     "only cmd imports the composition root",
		},
		"../armrbac": {
			"net/http":                            "armrbac is pure",
			"github.com/mhsm/mhsm/internal/store": "armrbac does no I/O",
			"github.com/mhsm/mhsm/internal/mgmt":  "armrbac is the core mgmt builds on",
			"os":                                  "armrbac does no I/O",
		},
	}
	for dir, bans := range banned {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if why, ok := bans[p]; ok {
					t.Errorf("%s imports %s: %s", f, p, why)
				}
			}
		}
	}
}
