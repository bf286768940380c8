package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestJSDefaultOptions runs test/jsclient/default.mjs (@azure/identity
// DefaultAzureCredential + @azure/keyvault-keys, default options, versions
// pinned in test/jsclient/package-lock.json) unmodified. The packages are
// installed into a private copy of the lock file's directory, so this test
// never races test/jsclient's own npm ci.
func TestJSDefaultOptions(t *testing.T) {
	s := server(t)
	rec.setFamily(t, "js")
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if os.Getenv("MHSM_REQUIRE_NODE") != "" {
			t.Fatalf("MHSM_REQUIRE_NODE is set but node/npm are missing: %v %v", errNode, errNpm)
		}
		t.Skip("node or npm not found (set MHSM_REQUIRE_NODE=1 to make this a failure)")
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "default.mjs"} {
		b, err := os.ReadFile(filepath.Join("..", "jsclient", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ci := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
	ci.Dir = dir
	if out, err := ci.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, node, "default.mjs")
	cmd.Dir, cmd.Env = dir, clientEnv(s)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	var res struct {
		OK    bool              `json:"ok"`
		Steps map[string]string `json:"steps"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || runErr != nil || !res.OK {
		t.Fatalf("default.mjs: %v %v\nstdout: %s\nstderr: %s", runErr, err, out.String(), errb.String())
	}
	for _, st := range []string{"createKey", "signVerify", "rotateWithoutPolicy", "listKeys"} {
		if res.Steps[st] != "ok" {
			t.Errorf("js step %s: %q", st, res.Steps[st])
		}
	}
	if !t.Failed() {
		clientsRun.Store("js", true)
	}
}
