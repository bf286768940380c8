package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/mhsm/mhsm/internal/app"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// TestMain lets the test binary act as mhsm (MHSM_TEST_HELPER=main) or as a
// parent that starts mhsm and exits (spawn), for the process lifetime tests.
func TestMain(m *testing.M) {
	switch os.Getenv("MHSM_TEST_HELPER") {
	case "main":
		if err := Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "mhsm:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "spawn": // start the server as a child, wait for dev.json, exit
		c := exec.Command(os.Args[0], os.Args[1:]...)
		c.Env = append(os.Environ(), "MHSM_TEST_HELPER=main")
		if err := c.Start(); err != nil {
			os.Exit(2)
		}
		dir := os.Getenv("MHSM_TEST_DATA_DIR")
		_ = os.WriteFile(filepath.Join(dir, "server.pid"), []byte(strconv.Itoa(c.Process.Pid)), 0o600)
		for i := 0; i < 600; i++ {
			if _, err := os.Stat(filepath.Join(dir, "dev.json")); err == nil {
				os.Exit(0)
			}
			time.Sleep(50 * time.Millisecond)
		}
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func runDev(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := Run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("mhsm %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// TestDevCLI drives clock, faults and export through mhsm dev.
func TestDevCLI(t *testing.T) {
	s := testserver.Start(t, func(c *config.Server) { c.Ephemeral = true })
	dj := filepath.Join(s.Config().DataDir, "dev.json")
	var clock struct {
		OffsetSeconds int64 `json:"offsetSeconds"`
	}
	out, _ := runDev(t, "dev", "--dev-json", dj, "clock", "show")
	if err := json.Unmarshal([]byte(out), &clock); err != nil || clock.OffsetSeconds != 0 {
		t.Fatalf("clock show: %s (%v)", out, err)
	}
	out, _ = runDev(t, "dev", "--dev-json", dj, "clock", "advance", "30d")
	if err := json.Unmarshal([]byte(out), &clock); err != nil || clock.OffsetSeconds != 30*86400 {
		t.Fatalf("clock advance 30d: %s (%v)", out, err)
	}
	out, _ = runDev(t, "dev", "--dev-json", dj, "clock", "advance", "PT12H")
	if err := json.Unmarshal([]byte(out), &clock); err != nil || clock.OffsetSeconds != 30*86400+12*3600 {
		t.Fatalf("clock advance PT12H: %s (%v)", out, err)
	}

	runDev(t, "dev", "--dev-json", dj, "faults", "add", "--operation", "KeyGet", "--status", "429", "--retry-after", "1", "--count", "2")
	out, _ = runDev(t, "dev", "--dev-json", dj, "faults", "list")
	var rules struct {
		Rules []struct {
			Operation  string `json:"operation"`
			Status     int    `json:"status"`
			RetryAfter int    `json:"retryAfter"`
			Count      int    `json:"count"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(out), &rules); err != nil || len(rules.Rules) != 1 || rules.Rules[0].Operation != "KeyGet" ||
		rules.Rules[0].Status != 429 || rules.Rules[0].RetryAfter != 1 || rules.Rules[0].Count != 2 {
		t.Fatalf("faults list: %s (%v)", out, err)
	}
	runDev(t, "dev", "--dev-json", dj, "faults", "clear")
	out, _ = runDev(t, "dev", "--dev-json", dj, "faults", "list")
	if err := json.Unmarshal([]byte(out), &rules); err != nil || len(rules.Rules) != 0 {
		t.Fatalf("faults list after clear: %s", out)
	}

	for _, secrets := range []bool{false, true} {
		file := filepath.Join(t.TempDir(), "state.json")
		args := []string{"dev", "--dev-json", dj, "export", "--out", file}
		if secrets {
			args = append(args, "--include-secrets")
		}
		_, stderr := runDev(t, args...)
		if warned := strings.Contains(stderr, "WARNING"); warned != secrets {
			t.Fatalf("export (secrets %v) printed %q", secrets, stderr)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var st app.DevState
		if err := json.Unmarshal(b, &st); err != nil || st.Format != app.DevStateFormat || st.IncludesSecrets != secrets ||
			(st.DevPrincipal.ClientSecret != "") != secrets {
			t.Fatalf("export (secrets %v): %.300s (%v)", secrets, b, err)
		}
	}
}

func TestISODuration(t *testing.T) {
	for in, want := range map[string]string{"30d": "P30D", "12h": "PT43200S", "90m": "PT5400S", "P1M": "P1M", "pt5m": "PT5M"} {
		if got, err := isoDuration(in); err != nil || got != want {
			t.Errorf("isoDuration(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "10", "-5d", "500ms"} {
		if got, err := isoDuration(bad); err == nil {
			t.Errorf("isoDuration(%q) = %q, want an error", bad, got)
		}
	}
}

// startEphemeral runs `mhsm server --dev --ephemeral` as a process with
// stdin a pipe, and returns it with its dev.json once it announced itself.
func startEphemeral(t *testing.T, extra ...string) (*exec.Cmd, io.WriteCloser, app.DevInfo, string) {
	t.Helper()
	c := exec.Command(os.Args[0], append([]string{"server", "--dev", "--ephemeral"}, extra...)...)
	c.Env = append(os.Environ(), "MHSM_TEST_HELPER=main")
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = io.Discard
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the server exited before announcing itself")
			}
			if _, path, found := strings.Cut(l, "devJson="); strings.HasPrefix(l, "mhsm dev server ready:") && found {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				var d app.DevInfo
				if err := json.Unmarshal(b, &d); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(l, "addr="+d.Addr+" ") {
					t.Fatalf("announced %q, dev.json addr %q", l, d.Addr)
				}
				go func() { // keep draining
					for range lines {
					}
				}()
				return c, stdin, d, path
			}
		case <-deadline:
			t.Fatal("no ready line within 60s")
		}
	}
}

// TestEphemeralServerOneLine: `mhsm server --dev --ephemeral` picks a free
// port, writes it into dev.json with the CA as PEM and PKCS#12, serves the
// dev CLI, and exits (removing its temporary data dir) when stdin closes.
func TestEphemeralServerOneLine(t *testing.T) {
	c, stdin, d, devJSON := startEphemeral(t)
	if _, port, err := net.SplitHostPort(d.Addr); err != nil || port == "0" {
		t.Fatalf("dev.json addr %q", d.Addr)
	}
	p12, err := os.ReadFile(d.CAP12File)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pkcs12.DecodeTrustStore(p12, d.CAP12Password)
	if err != nil || len(certs) != 1 || !certs[0].IsCA {
		t.Fatalf("ca.p12: %d certificates, %v", len(certs), err)
	}
	pemCA, err := os.ReadFile(d.CAFile)
	if err != nil || !bytes.Contains(pemCA, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("ca PEM: %v", err)
	}
	out, _ := runDev(t, "dev", "--dev-json", devJSON, "clock", "show")
	if !strings.Contains(out, `"offsetSeconds": 0`) {
		t.Fatalf("clock show against the process: %s", out)
	}
	stdin.Close()
	waitExit(t, c)
	if _, err := os.Stat(filepath.Dir(devJSON)); !os.IsNotExist(err) {
		t.Fatalf("the temporary data dir outlived the server: %v", err)
	}
}

// TestEphemeralServerExitsWithParent: started by a process that then
// exits, the server stops serving.
func TestEphemeralServerExitsWithParent(t *testing.T) {
	dir := t.TempDir()
	c := exec.Command(os.Args[0], "server", "--dev", "--ephemeral", "--data-dir", dir)
	c.Env = append(os.Environ(), "MHSM_TEST_HELPER=spawn", "MHSM_TEST_DATA_DIR="+dir)
	t.Cleanup(func() { // should it still run after a failure
		if b, err := os.ReadFile(filepath.Join(dir, "server.pid")); err == nil {
			if pid, err := strconv.Atoi(string(b)); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
		}
	})
	// No output pipes: the server inherits them, and would hold them open.
	if err := c.Run(); err != nil {
		t.Fatalf("spawner: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d app.DevInfo
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err != nil {
			return // stopped serving
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the server at %s still serves 20s after its parent exited", d.Addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitExit(t *testing.T, c *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the server exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not exit within 20s of its stdin closing")
	}
}
