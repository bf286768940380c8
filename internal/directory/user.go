package directory

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/store"
)

// User is a person who signs in with a UPN and password. PasswordHash is
// an argon2id PHC string and never leaves this package's callers' process:
// it is tagged out of every JSON the edge writes by the edge's own types.
type User struct {
	ID                string `json:"id"`
	TenantID          string `json:"tenantId"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName"`
	MailNickname      string `json:"mailNickname,omitempty"`
	GivenName         string `json:"givenName,omitempty"`
	Surname           string `json:"surname,omitempty"`
	AccountEnabled    bool   `json:"accountEnabled"`
	PasswordHash      string `json:"passwordHash"`
	// PasswordChanged is when the password was last set: refresh tokens
	// issued before it are refused.
	PasswordChanged time.Time `json:"passwordChanged"`
	Created         time.Time `json:"createdDateTime"`
}

// NewUser is what CreateUser needs.
type NewUser struct {
	UserPrincipalName string
	DisplayName       string
	MailNickname      string
	GivenName         string
	Surname           string
	Password          string
	AccountEnabled    bool
}

// UserPatch changes a user; nil fields are left as they are.
type UserPatch struct {
	DisplayName    *string
	GivenName      *string
	Surname        *string
	AccountEnabled *bool
	Password       *string
}

var upnLocal = regexp.MustCompile(`^[A-Za-z0-9'._!#^~-]{1,64}$`)

// CanonicalUPN is the one form a UPN is compared, indexed and counted in:
// trimmed and lower-cased.
func CanonicalUPN(upn string) string { return strings.ToLower(strings.TrimSpace(upn)) }

func upnKey(tid, upn string) string { return "dir/" + tid + "/upn/" + CanonicalUPN(upn) }

// CreateUser creates a user whose UPN ends in one of the tenant's verified
// domains.
func (d *Directory) CreateUser(ctx context.Context, tid string, n NewUser) (*User, error) {
	local, domain, ok := strings.Cut(strings.TrimSpace(n.UserPrincipalName), "@")
	if !ok || !upnLocal.MatchString(local) || domain == "" {
		return nil, invalidf("the userPrincipalName %q must be name@domain using letters, digits and ' . - _ ! # ^ ~", n.UserPrincipalName)
	}
	if strings.TrimSpace(n.DisplayName) == "" {
		return nil, invalidf("displayName is required")
	}
	if err := validatePassword(n.Password); err != nil {
		return nil, err
	}
	hash, err := hashPassword(d.pw, n.Password)
	if err != nil {
		return nil, err
	}
	u := &User{ID: uuid.NewString(), TenantID: tid, UserPrincipalName: local + "@" + strings.ToLower(domain),
		DisplayName: n.DisplayName, MailNickname: n.MailNickname, GivenName: n.GivenName, Surname: n.Surname,
		AccountEnabled: n.AccountEnabled, PasswordHash: hash, Created: d.now().UTC()}
	u.PasswordChanged = u.Created
	if u.MailNickname == "" {
		u.MailNickname = local
	}
	err = d.update(ctx, func(tx store.Tx) error {
		var t Tenant
		if err := store.GetJSON(tx, tenantKey(tid), &t); err != nil {
			return err
		}
		verified := false
		for _, dom := range t.Domains {
			verified = verified || strings.EqualFold(dom, domain)
		}
		if !verified {
			return invalidf("the domain %q is not a verified domain of this tenant", domain)
		}
		if _, err := tx.Get(upnKey(tid, u.UserPrincipalName)); err == nil {
			return ErrExists
		}
		if err := tx.Put(upnKey(tid, u.UserPrincipalName), []byte(u.ID)); err != nil {
			return err
		}
		return putObject(tx, tid, KindUser, u.ID, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// User returns the user named by object id or UPN.
func (d *Directory) User(ctx context.Context, tid, idOrUPN string) (*User, error) {
	var u User
	err := d.view(ctx, func(tx store.Tx) error { return getUser(tx, tid, idOrUPN, &u) })
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func getUser(tx store.Tx, tid, idOrUPN string, u *User) error {
	oid, err := canonicalID(idOrUPN)
	if err != nil {
		b, err := tx.Get(upnKey(tid, idOrUPN))
		if err != nil {
			return ErrNotFound
		}
		oid = string(b)
	}
	return store.GetJSON(tx, objKey(tid, KindUser, oid), u)
}

// Users lists the tenant's users.
func (d *Directory) Users(ctx context.Context, tid string) ([]User, error) {
	var out []User
	err := d.view(ctx, func(tx store.Tx) error {
		var err error
		out, err = store.ListJSON[User](tx, "dir/"+tid+"/"+KindUser+"/")
		return err
	})
	return out, err
}

// UpdateUser applies p to the user id.
func (d *Directory) UpdateUser(ctx context.Context, tid, id string, p UserPatch) (*User, error) {
	var hash string
	if p.Password != nil {
		if err := validatePassword(*p.Password); err != nil {
			return nil, err
		}
		var err error
		if hash, err = hashPassword(d.pw, *p.Password); err != nil {
			return nil, err
		}
	}
	var u User
	err := d.update(ctx, func(tx store.Tx) error {
		if err := getUser(tx, tid, id, &u); err != nil {
			return err
		}
		if p.DisplayName != nil {
			if strings.TrimSpace(*p.DisplayName) == "" {
				return invalidf("displayName must not be empty")
			}
			u.DisplayName = *p.DisplayName
		}
		if p.GivenName != nil {
			u.GivenName = *p.GivenName
		}
		if p.Surname != nil {
			u.Surname = *p.Surname
		}
		if p.AccountEnabled != nil {
			u.AccountEnabled = *p.AccountEnabled
		}
		if hash != "" {
			u.PasswordHash, u.PasswordChanged = hash, d.now().UTC()
		}
		return putObject(tx, tid, KindUser, u.ID, &u)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// DeleteUser deletes the user and removes it from every group.
func (d *Directory) DeleteUser(ctx context.Context, tid, id string) error {
	return d.update(ctx, func(tx store.Tx) error {
		var u User
		if err := getUser(tx, tid, id, &u); err != nil {
			return err
		}
		if err := tx.Delete(upnKey(tid, u.UserPrincipalName)); err != nil {
			return err
		}
		return deleteObject(tx, tid, KindUser, u.ID)
	})
}

// AuthenticatePassword checks a user's password. Every failure — unknown
// UPN, disabled account, wrong password — is ErrBadCredential and costs
// one argon2id evaluation; while the request's source (WithSource) is
// backing off for the UPN, ErrLocked is returned without checking, for
// unknown UPNs as for known ones (lockout.go).
func (d *Directory) AuthenticatePassword(ctx context.Context, tid, upn, password string) (*User, error) {
	key, src := tid+"/"+CanonicalUPN(upn), sourceFrom(ctx)
	if d.lock.locked(key, src) {
		return nil, ErrLocked
	}
	var u User
	err := d.view(ctx, func(tx store.Tx) error { // by UPN only: one name, one retry budget
		b, err := tx.Get(upnKey(tid, upn))
		if err != nil {
			return ErrNotFound
		}
		return store.GetJSON(tx, objKey(tid, KindUser, string(b)), &u)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	hash := d.dummyHash()
	if err == nil {
		hash = u.PasswordHash
	}
	ok := checkPassword(hash, password) && err == nil && len(password) <= MaxPasswordLength
	if !ok {
		d.lock.fail(key, src)
		return nil, ErrBadCredential
	}
	if !u.AccountEnabled {
		// The password was right; still say nothing more than "bad
		// credentials", and do not count it against the budget.
		return nil, ErrBadCredential
	}
	d.lock.succeed(key, src)
	return &u, nil
}
