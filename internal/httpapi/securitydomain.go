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
	svc := s.hsms
	pending := func(r *Request, op string) {
		r.Header = http.Header{
			"Azure-Asyncoperation": {r.HSM.BaseURL + "/securitydomain/" + op + "/pending"},
			"Retry-After":          {"1"},
		}
	}
	status := func(op string) func(*Request) (int, any, error) {
		return func(r *Request) (int, any, error) {
			st, err := svc.SecurityDomainStatus(r.Ctx, r.HSM, op)
			if err != nil {
				return 0, nil, err
			}
			return http.StatusOK, st, nil
		}
	}
	return []Route{
		{Method: "POST", Pattern: "/securitydomain/download", Operation: "SecurityDomainDownload", Action: rbac.SDDownload,
			BeforeActivation: true, BodyLimit: 256 << 10,
			Handle: func(r *Request) (int, any, error) {
				var body wire.CertificateInfo
				if err := r.Decode(&body); err != nil {
					return 0, nil, err
				}
				out, err := svc.DownloadSecurityDomain(r.Ctx, r.HSM, &body)
				if err != nil {
					return 0, nil, err
				}
				pending(r, "download")
				return http.StatusAccepted, out, nil
			}},
		{Method: "GET", Pattern: "/securitydomain/download/pending", Operation: "SecurityDomainDownloadPending", Action: rbac.SDDownloadRead,
			BeforeActivation: true, Handle: status("download")},
		{Method: "GET", Pattern: "/securitydomain/upload", Operation: "SecurityDomainTransferKey", Action: rbac.SDTransferKeyRead,
			BeforeActivation: true,
			Handle: func(r *Request) (int, any, error) {
				tk, err := svc.TransferKey(r.Ctx, r.HSM)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, tk, nil
			}},
		{Method: "POST", Pattern: "/securitydomain/upload", Operation: "SecurityDomainUpload", Action: rbac.SDUpload,
			BeforeActivation: true, BodyLimit: 4 << 20,
			Handle: func(r *Request) (int, any, error) {
				var body wire.SecurityDomainObject
				if err := r.Decode(&body); err != nil {
					return 0, nil, err
				}
				if body.Value == "" {
					return 0, nil, errBadRequest("The request body needs \"value\": the restore blob as a JSON string.")
				}
				st, err := svc.UploadSecurityDomain(r.Ctx, r.HSM, body.Value)
				if err != nil {
					return 0, nil, err
				}
				pending(r, "upload")
				return http.StatusAccepted, st, nil
			}},
		{Method: "GET", Pattern: "/securitydomain/upload/pending", Operation: "SecurityDomainUploadPending", Action: rbac.SDUploadRead,
			BeforeActivation: true, Handle: status("upload")},
	}
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
