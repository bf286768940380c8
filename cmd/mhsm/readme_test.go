package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/testserver"
)

// readmeBlock is one ```sh block of README.md.
type readmeBlock struct {
	line int // of the opening fence
	text string
	skip string // the reason of a "<!-- readme-test: skip (…) -->" line before it
}

var skipMarker = regexp.MustCompile(`^<!-- readme-test: skip \((.+)\) -->$`)

// readmeBlocks extracts the ```sh blocks of a Markdown file, in order.
func readmeBlocks(md string) ([]readmeBlock, error) {
	var out []readmeBlock
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		b := readmeBlock{line: i + 1}
		if i > 0 {
			if m := skipMarker.FindStringSubmatch(strings.TrimSpace(lines[i-1])); m != nil {
				b.skip = m[1]
			}
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
			j++
		}
		if j == len(lines) {
			return nil, fmt.Errorf("README.md:%d: unterminated ```sh block", i+1)
		}
		b.text = strings.Join(lines[i+1:j], "\n")
		out = append(out, b)
		i = j
	}
	return out, nil
}

// mhsmBinary returns the directory of the mhsm binary, built once per test
// process.
func mhsmBinary(t *testing.T) string { return filepath.Dir(testserver.Binary(t)) }

// TestReadmeExamples runs every ```sh block of README.md, in order, with
// bash against a fresh dev server, as a new user would: the built mhsm on
// PATH, a home of its own, the server's data directory at ./mhsm-data, and
// the server's port in place of 8443. It fails on the first command that
// fails, and if anything but mhsm-data is left in the working directory.
// Blocks after a "<!-- readme-test: skip (reason) -->" line are not run
// (starting the server, installing, editing /etc/hosts).
func TestReadmeExamples(t *testing.T) {
	for _, tool := range []string{"bash", "jq", "xxd", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("MHSM_REQUIRE_README_TOOLS") != "" {
				t.Fatalf("%s is needed by the README examples: %v", tool, err)
			}
			t.Skipf("%s not found (set MHSM_REQUIRE_README_TOOLS to make this a failure)", tool)
		}
	}
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(string(md))
	if err != nil {
		t.Fatal(err)
	}
	bin := mhsmBinary(t)
	s := testserver.Start(t, nil)
	port := strconv.Itoa(s.Config().PublicPort)

	work := t.TempDir()
	home := t.TempDir()
	tmp := t.TempDir()
	if err := os.Symlink(s.Config().DataDir, filepath.Join(work, "mhsm-data")); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	ran := 0
	for i, b := range blocks {
		if b.skip != "" {
			continue
		}
		ran++
		fmt.Fprintf(&script, "echo '>>> README.md:%d'\n%s\n", b.line, strings.ReplaceAll(b.text, "8443", port))
		_ = i
	}
	if ran < 8 {
		t.Fatalf("only %d runnable sh blocks in README.md", ran)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(cleanEnv(), "HOME="+home, "TMPDIR="+tmp, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("README examples failed: %v\n%s", err, lastLines(out.String(), 60))
	}
	t.Logf("README examples:\n%s", out.String())
	for _, b := range blocks {
		if b.skip == "" && !strings.Contains(out.String(), fmt.Sprintf(">>> README.md:%d\n", b.line)) {
			t.Errorf("block at README.md:%d did not run", b.line)
		}
	}
	// Checks on what the examples claim.
	for _, want := range []string{
		"Contoso App Auditors  Group", "Managed HSM Crypto Auditor", "ada@mhsm.localhost  User           Managed HSM Crypto User  /keys/payments",
		"dev: OK", "rotating", "DaysLeft", "payments  RSA-HSM  True",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("README examples' output lacks %q", want)
		}
	}
	ents, err := os.ReadDir(work)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "mhsm-data" {
			t.Errorf("the README examples wrote %s into the working directory", e.Name())
		}
	}
}

// cleanEnv is the environment without the variables the CLI reads, so the
// README sets up everything it uses.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MHSM_") || k == "IDENTITY_ENDPOINT" || k == "IDENTITY_HEADER" || k == "HOME" || k == "TMPDIR" || k == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
