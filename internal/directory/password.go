package directory

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams is an argon2id cost. Hashes record their own parameters
// (PHC string format), so changing the default does not break stored ones.
type PasswordParams struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultPasswordParams is OWASP's argon2id recommendation
// (m=19 MiB, t=2, p=1).
var DefaultPasswordParams = PasswordParams{Time: 2, Memory: 19 * 1024, Threads: 1}

const (
	saltLen = 16
	hashLen = 32
	// MinPasswordLength and MaxPasswordLength bound user passwords.
	MinPasswordLength = 8
	MaxPasswordLength = 256
)

// hashPassword returns "$argon2id$v=19$m=…,t=…,p=…$salt$hash".
func hashPassword(p PasswordParams, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, hashLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// checkPassword reports whether password matches encoded, comparing in
// constant time. A malformed hash never matches.
func checkPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var p PasswordParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false
	}
	if p.Time == 0 || p.Time > 16 || p.Memory < 8 || p.Memory > 1<<20 || p.Threads == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// validatePassword applies the password policy.
func validatePassword(pw string) error {
	if len(pw) < MinPasswordLength || len(pw) > MaxPasswordLength {
		return invalidf("the password must be %d to %d characters", MinPasswordLength, MaxPasswordLength)
	}
	return nil
}

// dummyHash returns a hash with the directory's parameters, made once, that
// unknown users' passwords are checked against so that an unknown user
// costs the same time as a wrong password.
func (d *Directory) dummyHash() string {
	d.dummyMu.Lock()
	defer d.dummyMu.Unlock()
	if d.dummy == "" {
		h, err := hashPassword(d.pw, "mhsm-dummy-password-never-matches")
		if err != nil {
			// rand failed: a malformed hash still costs nothing to reject,
			// but rand failing is fatal elsewhere long before this.
			return ""
		}
		d.dummy = h
	}
	return d.dummy
}
