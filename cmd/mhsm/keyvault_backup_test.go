package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/testserver"
	"github.com/mhsm/mhsm/internal/wire"
)

// TestKeyvaultBackupCLI: backup start waits and prints the final job;
// --no-wait prints the started job; restore start --key-name brings one
// key back; restore start restores everything; a missing folder fails with
// the job's error; flag mistakes are refused before any request.
func TestKeyvaultBackupCLI(t *testing.T) {
	s := testserver.Start(t, nil)
	t.Setenv("MHSM_CONFIG_DIR", filepath.Join(t.TempDir(), "config"))
	t.Setenv("MHSM_CONNECT", s.Addr)
	jobPoll = 20 * time.Millisecond
	cliRun(t, "login", "--dev-json", filepath.Join(s.Config().DataDir, "dev.json"))
	hsm := []string{"--hsm-name", "dev"}
	kv := func(args ...string) string {
		return cliRun(t, append(append([]string{"keyvault"}, args...), hsm...)...)
	}
	storage := []string{"--storage-account-name", "cliacct", "--blob-container-name", "backups", "--storage-container-SAS-token", "sv=x&sig=y"}

	kv("key", "create", "--name", "k1", "--kty", "EC-HSM", "--curve", "P-256")
	var done wire.BackupOperation
	if err := json.Unmarshal([]byte(kv(append([]string{"backup", "start"}, storage...)...)), &done); err != nil {
		t.Fatal(err)
	}
	if done.Status != wire.JobSucceeded || done.AzureStorageBlobContainerURI == nil ||
		*done.AzureStorageBlobContainerURI != "https://cliacct.blob.core.windows.net/backups/"+done.FolderName {
		t.Fatalf("backup start printed %+v", done)
	}
	var started wire.BackupOperation
	if err := json.Unmarshal([]byte(kv(append([]string{"backup", "start", "--no-wait"}, storage...)...)), &started); err != nil {
		t.Fatal(err)
	}
	if started.Status != wire.JobInProgress || len(started.JobID) != 32 {
		t.Fatalf("--no-wait printed %+v", started)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		id := strings.TrimSpace(kv("backup", "status", "--job-id", started.JobID, "--query", "status", "-o", "tsv"))
		if id == wire.JobSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("--no-wait job still %s", id)
		}
	}

	kv("key", "delete", "--name", "k1")
	kv("key", "purge", "--name", "k1")
	kv("key", "create", "--name", "k2", "--kty", "EC-HSM", "--curve", "P-256")
	out := kv(append([]string{"restore", "start", "--backup-folder", done.FolderName, "--key-name", "k1", "--query", "statusDetails", "-o", "tsv"}, storage...)...)
	if !strings.Contains(out, "Number of successful key versions restored: 1") {
		t.Fatalf("selective restore printed %q", out)
	}
	kv("key", "show", "--name", "k1")
	kv("key", "show", "--name", "k2")
	kv(append([]string{"restore", "start", "--backup-folder", done.FolderName}, storage...)...)
	var errb bytes.Buffer
	if err := Run(context.Background(), append([]string{"keyvault", "key", "show", "--name", "k2"}, hsm...), &bytes.Buffer{}, &errb); err == nil {
		t.Fatal("k2, made after the backup, survived the full restore")
	}

	fail := func(want string, args ...string) {
		t.Helper()
		var o, e bytes.Buffer
		err := Run(context.Background(), append(append([]string{"keyvault"}, args...), hsm...), &o, &e)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("mhsm keyvault %s: err %v, want %q", strings.Join(args, " "), err, want)
		}
	}
	fail("no backup", append([]string{"restore", "start", "--backup-folder", "mhsm-dev-none"}, storage...)...)
	fail("exactly one", "backup", "start", "--storage-account-name", "a", "--blob-container-name", "backups")
	fail("exactly one", "backup", "start", "--storage-account-name", "a", "--blob-container-name", "backups", "--storage-container-SAS-token", "x", "--use-managed-identity", "true")
	fail("--backup-folder", append([]string{"restore", "start"}, storage...)...)
}
