package httpapi

import (
	"net/http"

	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/wire"
)

// backupRoutes is the full backup and restore API (backuprestore.json,
// 7.6): long-running jobs answered 202 with Azure-AsyncOperation pointing at
// /backup/{jobId}/pending or /restore/{jobId}/pending, polled with GET.
func (s *Server) backupRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/backup", Operation: "FullBackup", Action: rbac.BackupStart, Handle: s.startBackup},
		{Method: "POST", Pattern: "/prebackup", Operation: "PreFullBackup", Action: rbac.BackupStart, Handle: s.startPreBackup},
		{Method: "GET", Pattern: "/backup/{jobId}/pending", Operation: "FullBackupStatus", Action: rbac.BackupStatus, Handle: s.backupStatus},
		{Method: "PUT", Pattern: "/restore", Operation: "FullRestore", Action: rbac.RestoreStart, Handle: s.startRestore},
		{Method: "PUT", Pattern: "/prerestore", Operation: "PreFullRestore", Action: rbac.RestoreStart, Handle: s.startPreRestore},
		{Method: "PUT", Pattern: "/keys/{name}/restore", Operation: "SelectiveKeyRestore", Action: rbac.RestoreStart, KeyScoped: true, Handle: s.startKeyRestore},
		{Method: "GET", Pattern: "/restore/{jobId}/pending", Operation: "RestoreStatus", Action: rbac.RestoreStatus, Handle: s.restoreStatus},
	}
}

// jobAccepted answers a started job: 202, the status, and where to poll.
func jobAccepted(r *Request, op string, st *wire.BackupOperation, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	r.Header = http.Header{
		"Azure-Asyncoperation": {r.HSM.BaseURL + "/" + op + "/" + st.JobID + "/pending"},
		"Retry-After":          {"1"},
	}
	return http.StatusAccepted, st, nil
}

func (s *Server) startBackup(r *Request) (int, any, error) {
	var p wire.SASTokenParameter
	if err := r.Decode(&p); err != nil {
		return 0, nil, err
	}
	st, err := s.hsms.StartBackup(r.Ctx, r.HSM, &p)
	return jobAccepted(r, "backup", st, err)
}

func (s *Server) startPreBackup(r *Request) (int, any, error) {
	var p wire.SASTokenParameter
	if err := r.Decode(&p); err != nil {
		return 0, nil, err
	}
	st, err := s.hsms.StartPreBackup(r.Ctx, r.HSM, &p)
	return jobAccepted(r, "backup", st, err)
}

func (s *Server) backupStatus(r *Request) (int, any, error) {
	st, err := s.hsms.JobStatus(r.Ctx, r.HSM, "backup", r.Params["jobId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, st, nil
}

func (s *Server) startRestore(r *Request) (int, any, error) { return s.restore(r, false) }

func (s *Server) startPreRestore(r *Request) (int, any, error) { return s.restore(r, true) }

func (s *Server) restore(r *Request, check bool) (int, any, error) {
	var p wire.RestoreOperationParameters
	if err := r.Decode(&p); err != nil {
		return 0, nil, err
	}
	st, err := s.hsms.StartRestore(r.Ctx, r.HSM, p.SASTokenParameters, p.FolderToRestore, check)
	return jobAccepted(r, "restore", st, err)
}

func (s *Server) startKeyRestore(r *Request) (int, any, error) {
	var p wire.SelectiveKeyRestoreOperationParameters
	if err := r.Decode(&p); err != nil {
		return 0, nil, err
	}
	st, err := s.hsms.StartKeyRestore(r.Ctx, r.HSM, r.Params["name"], p.SASTokenParameters, p.Folder)
	return jobAccepted(r, "restore", st, err)
}

func (s *Server) restoreStatus(r *Request) (int, any, error) {
	st, err := s.hsms.JobStatus(r.Ctx, r.HSM, "restore", r.Params["jobId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, st, nil
}
