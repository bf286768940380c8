package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerFailedStartWritesNothing: a start that cannot bind its port
// fails with one line naming the address and flag, and creates no data
// directory.
func TestServerFailedStartWritesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dataDir := filepath.Join(t.TempDir(), "mhsm-data")
	_, err = runCLI(t, "server", "--dev", "--addr", ln.Addr().String(), "--ops-addr", "", "--data-dir", dataDir)
	if err == nil || !strings.Contains(err.Error(), "cannot listen on "+ln.Addr().String()+" (--addr)") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("start on a busy port: %v", err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("a failed start created the data directory: %v", err)
	}
}
