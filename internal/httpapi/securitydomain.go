package httpapi

import (
	"net/http"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/wire"
)

// securityDomainRoutes is the security domain API (securitydomain.json,
// 7.6): activation by download, recovery by transfer key and upload, and
// the pending status endpoints. All of them are served before activation.
//
// Download and upload complete before answering, so they answer 202 with
// the result and an Azure-AsyncOperation URL whose status is already
// final. GET /securitydomain/upload/pending also reports the download
// status, because az 2.45 polls it after a download.
func (s *Server) securityDomainRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/securitydomain/download", Operation: "SecurityDomainDownload", Action: rbac.SDDownload,
			BeforeActivation: true, BodyLimit: 256 << 10, Handle: s.securityDomainDownload},
		{Method: "GET", Pattern: "/securitydomain/download/pending", Operation: "SecurityDomainDownloadPending", Action: rbac.SDDownloadRead,
			BeforeActivation: true, Handle: s.securityDomainDownloadPending},
		{Method: "GET", Pattern: "/securitydomain/upload", Operation: "SecurityDomainTransferKey", Action: rbac.SDTransferKeyRead,
			BeforeActivation: true, Handle: s.securityDomainTransferKey},
		{Method: "POST", Pattern: "/securitydomain/upload", Operation: "SecurityDomainUpload", Action: rbac.SDUpload,
			BeforeActivation: true, BodyLimit: 4 << 20, Handle: s.securityDomainUpload},
		{Method: "GET", Pattern: "/securitydomain/upload/pending", Operation: "SecurityDomainUploadPending", Action: rbac.SDUploadRead,
			BeforeActivation: true, Handle: s.securityDomainUploadPending},
	}
}

// pending points a 202's client at the operation's status.
func pending(r *Request, op string) {
	r.Header = http.Header{
		"Azure-Asyncoperation": {r.HSM.BaseURL + "/securitydomain/" + op + "/pending"},
		"Retry-After":          {"1"},
	}
}

func (s *Server) securityDomainStatus(r *Request, op string) (int, any, error) {
	st, err := s.hsms.SecurityDomainStatus(r.Ctx, r.HSM, op)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, st, nil
}

func (s *Server) securityDomainDownloadPending(r *Request) (int, any, error) {
	return s.securityDomainStatus(r, "download")
}

func (s *Server) securityDomainUploadPending(r *Request) (int, any, error) {
	return s.securityDomainStatus(r, "upload")
}

func (s *Server) securityDomainDownload(r *Request) (int, any, error) {
	var body wire.CertificateInfo
	if err := r.Decode(&body); err != nil {
		return 0, nil, err
	}
	out, err := s.hsms.DownloadSecurityDomain(r.Ctx, r.HSM, &body)
	if err != nil {
		return 0, nil, err
	}
	pending(r, "download")
	return http.StatusAccepted, out, nil
}

func (s *Server) securityDomainTransferKey(r *Request) (int, any, error) {
	tk, err := s.hsms.TransferKey(r.Ctx, r.HSM)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, tk, nil
}

func (s *Server) securityDomainUpload(r *Request) (int, any, error) {
	var body wire.SecurityDomainObject
	if err := r.Decode(&body); err != nil {
		return 0, nil, err
	}
	if body.Value == "" {
		return 0, nil, errBadRequest("The request body needs \"value\": the restore blob as a JSON string.")
	}
	st, err := s.hsms.UploadSecurityDomain(r.Ctx, r.HSM, body.Value)
	if err != nil {
		return 0, nil, err
	}
	pending(r, "upload")
	return http.StatusAccepted, st, nil
}

// errNotActivated is the answer of every other route on an HSM that is not
// activated. Managed HSM's own status for this is undocumented; 403 is what
// Key Vault answers when an object's state forbids an operation (a disabled
// key), SDKs do not retry it (as they would a 503), and the
// distinct code tells a client what to do.
func errNotActivated(h *hsm.HSM) error {
	_, msg := h.ActivationStatus()
	return &apiError{Status: http.StatusForbidden, Code: "HSMNotActivated", Message: msg}
}
