package httpapi

import (
	"strings"

	"github.com/mhsm/mhsm/internal/directory"
)

// The username of a password grant is typed by a person, and people type
// passwords into the user field. The token request's audit record names
// it in clear only when it is the UPN of an existing user of the tenant;
// anything else is recorded as an HMAC (usernameHash), like other
// untrusted identifiers (issue #14.6).

// noteUsername tells the token request's audit record that username names
// a user of tid: u when the sign-in succeeded, else a directory lookup.
// The lookup runs for known and unknown names alike, after the password
// check, so it adds nothing an attacker can time.
func (s *Server) noteUsername(l *loginReq, tid, username string, u *directory.User) {
	if l.ev == nil || username == "" || tid == "" {
		return
	}
	if u == nil {
		var err error
		if u, err = s.dir.User(l.r.Context(), tid, strings.TrimSpace(username)); err != nil {
			return
		}
	}
	if directory.CanonicalUPN(u.UserPrincipalName) == directory.CanonicalUPN(username) {
		l.ev.knownUsername = username
	}
}

// knownUsername reports whether the request's handler noted username as
// naming a user.
func knownUsername(e *AuditEvent, username string) bool {
	return e.knownUsername != "" && e.knownUsername == username && upnPattern.MatchString(username)
}
