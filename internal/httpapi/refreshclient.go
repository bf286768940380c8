package httpapi

import (
	"net/http"

	"github.com/mhsm/mhsm/internal/directory"
)

// Client authentication on the refresh_token grant (issue #14.6): a
// refresh token issued to a client that authenticated with its secret is
// redeemed only with that secret again, and a client that is not a public
// client must always authenticate. The check runs before the token is
// consumed, so a bare stolen token cannot burn the client's own.

// refreshClient authenticates the client of a refresh_token request: its
// secret if one is presented (which must be right), else the client must
// be a public client. tid may be "" on /adfs when the client is unknown,
// which fails here.
func (s *Server) refreshClient(r *http.Request, tid, clientID, secret string) error {
	if secret != "" {
		if tid == "" {
			return directory.ErrBadCredential
		}
		_, err := s.dir.AuthenticateSecret(r.Context(), tid, clientID, secret)
		return err
	}
	if tid != "" && !s.dir.PublicClient(r.Context(), tid, clientID) {
		return directory.ErrBadCredential
	}
	return nil
}

// clientSecretPresented reports whether the token request carried a client
// secret (form or HTTP Basic). The grants verify it before any token is
// issued, so for an issued grant it means "the client authenticated".
func clientSecretPresented(r *http.Request) bool {
	if _, p, ok := r.BasicAuth(); ok && p != "" {
		return true
	}
	return r.PostForm.Get("client_secret") != ""
}
