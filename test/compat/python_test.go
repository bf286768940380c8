package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/rbac"
)

// pythonSteps are the steps testdata/compat.py must report "ok". Each
// defect of issue 17 that Python found has its step: rotateWithoutPolicy
// and defaultRotationPolicy (on-demand rotation), roleAssignmentsKeysScope
// (/keys is its own scope), usernamePasswordCredential (lower-case
// userrealm, scope echo).
var pythonSteps = []string{"defaultAzureCredentialToken", "createGetListKeys", "signVerify", "defaultRotationPolicy",
	"rotateWithoutPolicy", "roleAssignmentsKeysScope", "settings", "usernamePasswordCredential"}

// TestPythonSDK runs Debian's python3-azure (azure-keyvault-keys,
// azure-keyvault-administration, azure-identity) unmodified.
func TestPythonSDK(t *testing.T) {
	s := server(t)
	rec.setFamily(t, "python")
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import azure.keyvault.keys, azure.keyvault.administration, azure.identity").Run(); err != nil {
		if os.Getenv("MHSM_REQUIRE_PYTHON_AZURE") != "" {
			t.Fatalf("MHSM_REQUIRE_PYTHON_AZURE is set but python3-azure is not importable: %v", err)
		}
		t.Skip("python3-azure is not installed (apt-get install python3-azure); set MHSM_REQUIRE_PYTHON_AZURE=1 to make this a failure")
	}
	ctx := context.Background()
	const upn, password = "pat@mhsm.localhost", "Compat-Suite-2026!"
	u, err := s.App.Directory().CreateUser(ctx, s.Dev.TenantID, directory.NewUser{UserPrincipalName: upn, DisplayName: "Pat",
		MailNickname: "pat", Password: password, AccountEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	bare, err := s.App.Directory().CreateUser(ctx, s.Dev.TenantID, directory.NewUser{UserPrincipalName: "quinn@mhsm.localhost",
		DisplayName: "Quinn", MailNickname: "quinn", Password: password, AccountEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := s.App.HSMs().Get(hsmName)
	if _, err := s.App.HSMs().Assign(ctx, h, rbac.RoleAssignment{Scope: "/", RoleDefinitionID: rbac.RoleCryptoUser, PrincipalID: u.ID}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, py, "testdata/compat.py")
	cmd.Env = append(clientEnv(s), "MHSM_COMPAT_UPN="+upn, "MHSM_COMPAT_PASSWORD="+password, "MHSM_COMPAT_PRINCIPAL="+bare.ID)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("compat.py: %v\n%s\n%s", err, out.String(), errb.String())
	}
	var res struct {
		Steps map[string]string `json:"steps"`
		Facts map[string]any    `json:"facts"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("compat.py output: %v\n%s\n%s", err, out.String(), errb.String())
	}
	for _, st := range pythonSteps {
		if got := res.Steps[st]; got != "ok" {
			t.Errorf("python step %s: %s", st, got)
		}
	}
	if t.Failed() {
		t.Logf("stderr: %s", errb.String())
		return
	}
	clientsRun.Store("python", true)
}
