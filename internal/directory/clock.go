package directory

import "time"

// SetClock replaces the directory's clock (secret and password expiry,
// sign-in lockout). Call it before the directory serves a request.
func (d *Directory) SetClock(now func() time.Time) { d.now = now }
