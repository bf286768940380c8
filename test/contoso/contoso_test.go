// Package contoso runs the project's flagship example, examples/contoso
// (Microsoft's tutorial "Secure access to your managed HSMs" replayed with
// the mhsm CLI), against a fresh server, and asserts its access model: the
// table accessModel below is every attempt the example makes and the
// outcome it must have. Read that table first.
package contoso

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/testserver"
)

// Outcomes of an attempt.
const (
	allowed = "ALLOWED"
	denied  = "DENIED"
)

// attempt is one row of the access model: who tries what, the operation
// the server records for it (operationName in the HSM's audit log; empty
// for the auditors' query and verification of the delivered log, which
// read the storage account, not the HSM), and the outcome.
type attempt struct {
	id, who, what, operation, want string
}

// accessModel is the seed's separation of duties as the example plays it.
//
//	security team: Managed HSM Administrator + the custom "Contoso Key Officer" at /keys (manage keys, never use them)
//	developers:    no data-plane role, no management role (they only hold the key URI)
//	auditors:      Managed HSM Crypto Auditor (+ read access to the log storage account)
//	app (VM identity): Managed HSM Crypto User (the seed's command says Crypto Auditor: a mistake)
//	storage identity:  Managed HSM Crypto Service Encryption User
var accessModel = []attempt{
	{"app-sign", "app", "sign with its key", "KeySign", allowed},
	{"app-verify", "app", "verify the signature", "KeyVerify", allowed},
	{"app-purge", "app", "purge its key", "DeletedKeyPurge", denied},
	{"app-grant", "app", "grant itself Administrator", "RoleAssignmentCreate", denied},

	{"storage-wrap", "storage", "wrap a data key", "KeyWrap", allowed},
	{"storage-unwrap", "storage", "unwrap it", "KeyUnwrap", allowed},
	{"storage-sign", "storage", "sign with the app's key", "KeySign", denied},

	{"dev-key-show", "dave", "read the key", "KeyGet", denied},
	{"dev-key-list", "dave", "list keys", "KeyList", denied},
	{"dev-sign", "dave", "sign", "KeySign", denied},
	{"dev-hsm-show", "dave", "read the HSM resource (ARM)", "ManagedHsmGet", denied},

	{"audit-expiring", "erin", "list keys with expiry dates", "KeyList", allowed},
	{"audit-roles", "erin", "list role assignments", "RoleAssignmentList", allowed},
	{"audit-roles-keys", "erin", "list role assignments at /keys", "RoleAssignmentList", allowed},
	{"audit-who-can", "erin", "who can sign", "AccessWhoCan", allowed},
	{"audit-sign", "erin", "sign", "KeySign", denied},
	{"audit-export", "erin", "export the key (backup)", "KeyBackup", denied},
	{"audit-grant", "erin", "grant the auditors Crypto User", "RoleAssignmentCreate", denied},
	{"audit-unassign", "erin", "remove the app's role", "RoleAssignmentDelete", denied},

	{"team-sign", "alice", "sign", "KeySign", denied},
	{"team-rotate", "alice", "rotate the signing key", "KeyRotate", allowed},
	{"app-sign-rotated", "app", "sign after the rotation", "KeySign", allowed},
	{"app-verify-rotated", "app", "verify the new signature", "KeyVerify", allowed},
	{"app-verify-old", "app", "verify the old signature with the old version", "KeyVerify", allowed},

	{"team-backup", "alice", "full backup of the HSM", "FullBackup", allowed},
	{"audit-backup", "erin", "full backup", "FullBackup", denied},
	{"app-backup", "app", "full backup", "FullBackup", denied},

	{"audit-public-key", "erin", "fetch the audit signing key", "AuditPublicKeyGet", allowed},
	{"audit-query", "erin", "query the delivered log", "", allowed},
	{"audit-verify", "erin", "verify the delivered log", "", allowed},
}

// facts are the example's checks that are not access decisions; each must
// print [ok].
var facts = []string{
	"sd-file",                 // the security domain file was written
	"app-verify-true",         // the signature verifies
	"storage-unwrap-same",     // unwrap gives back the wrapped key
	"dev-key-uri",             // the developers hold the key URI
	"audit-who-can-app",       // only the app's identity can sign
	"app-new-version",         // after rotation the app signs with the new version
	"app-verify-rotated-true", // which verifies
	"app-verify-old-true",     // and the old signature still verifies with the old version
	"team-backup-folder",      // the backup's manifest is in the backup storage account
	"audit-query-denials",     // the delivered log shows the refused signatures
}

var (
	outcomeLine = regexp.MustCompile(`^\[(ok|MISMATCH)\]\s+(\S+)\s+(ALLOWED|DENIED|ERROR)\s+\(expected (ALLOWED|DENIED)\s*\)`)
	factLine    = regexp.MustCompile(`^\[(ok|MISMATCH)\]\s+(\S+)\s+[^A-Z(]`)
)

// TestContosoExample runs examples/contoso/run.sh against a fresh
// in-process server and checks every outcome line against accessModel,
// then checks the server's own audit log: each attempt with an operation
// left a record of that caller and operation with the expected result
// (a 403 for a denial, so a CLI failure cannot pass for one).
func TestContosoExample(t *testing.T) {
	for _, tool := range []string{"bash", "jq", "openssl", "awk", "sed", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("MHSM_REQUIRE_README_TOOLS") == "" {
				t.Skipf("examples/contoso/run.sh needs %s (scripts/test.sh installs it and makes this a failure)", tool)
			}
			t.Fatalf("examples/contoso/run.sh needs %s: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := testserver.Binary(t)
	s := testserver.Start(t, func(c *config.Server) {
		c.MSIAddr = "127.0.0.1:0"
		c.OpsAddr = ""
		c.Audit.CheckpointInterval = time.Second
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "examples/contoso/run.sh"))
	cmd.Env = append(os.Environ(),
		"MHSM_BIN="+bin,
		"CONTOSO_DEV_JSON="+filepath.Join(s.Config().DataDir, "dev.json"),
		"CONTOSO_CONNECT="+s.Addr,
		"CONTOSO_MSI="+s.App.MSIAddr().String(),
		"CONTOSO_STORAGE_ROOT="+s.Config().AuditStorageRoot(),
		"TMPDIR="+t.TempDir(),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	t.Logf("run.sh output:\n%s", out.String())
	if runErr != nil {
		t.Errorf("run.sh: %v (it exits non-zero when an outcome differs from its expectation)", runErr)
	}

	got := map[string]string{}
	okFact := map[string]bool{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		if m := outcomeLine.FindStringSubmatch(line); m != nil {
			if _, dup := got[m[2]]; dup {
				t.Errorf("attempt %s printed twice", m[2])
			}
			got[m[2]] = m[3]
		} else if m := factLine.FindStringSubmatch(line); m != nil {
			okFact[m[2]] = m[1] == "ok"
		}
	}
	known := map[string]bool{}
	for _, a := range accessModel {
		known[a.id] = true
		switch g, ok := got[a.id]; {
		case !ok:
			t.Errorf("%s (%s: %s): no outcome printed", a.id, a.who, a.what)
		case g != a.want:
			t.Errorf("%s (%s: %s): %s, want %s", a.id, a.who, a.what, g, a.want)
		}
	}
	for id := range got {
		if !known[id] {
			t.Errorf("run.sh printed attempt %s, which the access model of this test lacks", id)
		}
	}
	for _, f := range facts {
		if !okFact[f] {
			t.Errorf("check %s: not printed as [ok]", f)
		}
	}
	checkAuditLog(t, s)
}

// checkAuditLog reads ContosoMHSM's chain as the server wrote it and, for
// each attempt naming an operation, finds the caller's records of it.
func checkAuditLog(t *testing.T, s *testserver.Server) {
	t.Helper()
	ctx := context.Background()
	dir, tid := s.App.Directory(), s.Dev.TenantID
	principal := map[string]string{}
	for who, name := range map[string]string{"app": "contoso-app-vm", "storage": "contosologstorage"} {
		mi, err := dir.Identity(ctx, tid, name)
		if err != nil {
			t.Fatalf("managed identity %s: %v", name, err)
		}
		principal[who] = mi.PrincipalID
	}
	for _, u := range []string{"alice", "dave", "erin"} {
		principal[u] = u + "@" + s.Config().Domain
	}
	sources, err := audit.FindSources(ctx, audit.DirFiles(s.App.Audit().Dir()), "")
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ who, op string }
	statuses := map[key][]int{}
	for _, src := range sources {
		if src.HSM != "contosomhsm" {
			continue
		}
		for _, a := range accessModel {
			if a.operation == "" {
				continue
			}
			f := &audit.Filter{Principal: principal[a.who], Operation: a.operation}
			k := key{a.who, a.operation}
			if _, done := statuses[k]; done {
				continue
			}
			statuses[k] = []int{}
			if err := src.Query(ctx, f, func(r *audit.Record) error {
				statuses[k] = append(statuses[k], r.Status)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, a := range accessModel {
		if a.operation == "" {
			continue
		}
		var ok2xx, forbidden int
		for _, st := range statuses[key{a.who, a.operation}] {
			switch {
			case st/100 == 2:
				ok2xx++
			case st == 403:
				forbidden++
			}
		}
		switch {
		case a.want == allowed && ok2xx == 0:
			t.Errorf("%s: the audit log has no successful %s by %s (statuses %v)", a.id, a.operation, a.who, statuses[key{a.who, a.operation}])
		case a.want == denied && (forbidden == 0 || ok2xx > 0):
			t.Errorf("%s: the audit log should hold only refused (403) %s by %s, has statuses %v", a.id, a.operation, a.who, statuses[key{a.who, a.operation}])
		}
	}
	if t.Failed() {
		t.Logf("audit statuses by caller and operation: %v", statuses)
	}
}
