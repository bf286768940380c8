package directory

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/store"
)

// ServicePrincipal is an application's (or a managed identity's) identity
// in a tenant. AppID is the OAuth client id; ObjectID is what role
// assignments name.
type ServicePrincipal struct {
	ObjectID    string `json:"objectId"`
	AppID       string `json:"appId"`
	TenantID    string `json:"tenantId"`
	DisplayName string `json:"displayName"`
	Enabled     bool   `json:"enabled"`
	// Type is "Application" or "ManagedIdentity".
	Type    string    `json:"servicePrincipalType"`
	Created time.Time `json:"createdDateTime"`
}

// Service principal types.
const (
	SPTypeApplication     = "Application"
	SPTypeManagedIdentity = "ManagedIdentity"
)

// CreateServicePrincipal registers an application and its service
// principal in one step.
func (d *Directory) CreateServicePrincipal(ctx context.Context, tid, displayName string) (*ServicePrincipal, error) {
	a, err := d.CreateApplication(ctx, tid, displayName, false)
	if err != nil {
		return nil, err
	}
	return d.CreateServicePrincipalFor(ctx, tid, a.AppID)
}

// CreateServicePrincipalFor creates the service principal of the
// application with client id appID.
func (d *Directory) CreateServicePrincipalFor(ctx context.Context, tid, appID string) (*ServicePrincipal, error) {
	var sp ServicePrincipal
	err := d.update(ctx, func(tx store.Tx) error {
		var a Application
		if err := getApp(tx, tid, appID, &a); err != nil {
			return err
		}
		if _, err := tx.Get(spAppIDKey(tid, a.AppID)); err == nil {
			return ErrExists
		}
		sp = ServicePrincipal{ObjectID: uuid.NewString(), AppID: a.AppID, TenantID: tid, DisplayName: a.DisplayName,
			Enabled: true, Type: SPTypeApplication, Created: d.now().UTC()}
		if err := tx.Put(spAppIDKey(tid, a.AppID), []byte(sp.ObjectID)); err != nil {
			return err
		}
		return putObject(tx, tid, KindServicePrincipal, sp.ObjectID, &sp)
	})
	if err != nil {
		return nil, err
	}
	return &sp, nil
}

// ServicePrincipal returns the service principal named by its object id
// or its client id (appId).
func (d *Directory) ServicePrincipal(ctx context.Context, tid, idOrAppID string) (*ServicePrincipal, error) {
	var sp ServicePrincipal
	if err := d.view(ctx, func(tx store.Tx) error { return getSP(tx, tid, idOrAppID, &sp) }); err != nil {
		return nil, err
	}
	return &sp, nil
}

func getSP(tx store.Tx, tid, idOrAppID string, sp *ServicePrincipal) error {
	id, err := canonicalID(idOrAppID)
	if err != nil {
		return err
	}
	if err := store.GetJSON(tx, objKey(tid, KindServicePrincipal, id), sp); err == nil {
		return nil
	}
	b, err := tx.Get(spAppIDKey(tid, id))
	if err != nil {
		return ErrNotFound
	}
	return store.GetJSON(tx, objKey(tid, KindServicePrincipal, string(b)), sp)
}

// ServicePrincipals lists the tenant's service principals.
func (d *Directory) ServicePrincipals(ctx context.Context, tid string) ([]ServicePrincipal, error) {
	var out []ServicePrincipal
	err := d.view(ctx, func(tx store.Tx) error {
		var err error
		out, err = store.ListJSON[ServicePrincipal](tx, "dir/"+tid+"/"+KindServicePrincipal+"/")
		return err
	})
	return out, err
}

// SetServicePrincipalEnabled enables or disables sign-in for a service
// principal.
func (d *Directory) SetServicePrincipalEnabled(ctx context.Context, tid, id string, enabled bool) (*ServicePrincipal, error) {
	var sp ServicePrincipal
	err := d.update(ctx, func(tx store.Tx) error {
		if err := getSP(tx, tid, id, &sp); err != nil {
			return err
		}
		sp.Enabled = enabled
		return putObject(tx, tid, KindServicePrincipal, sp.ObjectID, &sp)
	})
	if err != nil {
		return nil, err
	}
	return &sp, nil
}

// DeleteServicePrincipal deletes an application's service principal (the
// application stays). Managed identities are deleted with DeleteIdentity.
func (d *Directory) DeleteServicePrincipal(ctx context.Context, tid, id string) error {
	return d.update(ctx, func(tx store.Tx) error {
		var sp ServicePrincipal
		if err := getSP(tx, tid, id, &sp); err != nil {
			return err
		}
		if sp.Type == SPTypeManagedIdentity {
			return invalidf("delete a managed identity's service principal by deleting the identity")
		}
		return deleteSP(tx, tid, sp.ObjectID)
	})
}

func deleteSP(tx store.Tx, tid, oid string) error {
	var sp ServicePrincipal
	if err := store.GetJSON(tx, objKey(tid, KindServicePrincipal, oid), &sp); err != nil {
		return err
	}
	if err := tx.Delete(spAppIDKey(tid, sp.AppID)); err != nil {
		return err
	}
	return deleteObject(tx, tid, KindServicePrincipal, oid)
}

// ClientCredentials returns the enabled service principal with client id
// clientID and its application, for checking certificate and federated
// assertions. Failures are ErrBadCredential, or ErrLocked while the
// request's source is backing off for the client.
func (d *Directory) ClientCredentials(ctx context.Context, tid, clientID string) (*ServicePrincipal, *Application, error) {
	key, src := clientKey(tid, clientID), sourceFrom(ctx)
	if d.lock.locked(key, src) {
		return nil, nil, ErrLocked
	}
	var sp ServicePrincipal
	var app Application
	err := d.view(ctx, func(tx store.Tx) error {
		if err := getSP(tx, tid, clientID, &sp); err != nil {
			return err
		}
		if !strings.EqualFold(sp.AppID, strings.TrimSpace(clientID)) {
			return ErrNotFound // an object id is not a client id
		}
		return getApp(tx, tid, sp.AppID, &app)
	})
	if errors.Is(err, ErrNotFound) || (err == nil && !sp.Enabled) {
		d.lock.fail(key, src)
		return nil, nil, ErrBadCredential
	}
	if err != nil {
		return nil, nil, err
	}
	return &sp, &app, nil
}

// ClientFailed counts a failed credential check of clientID from the
// request's source (WithSource); ClientSucceeded clears that source's
// failures.
func (d *Directory) ClientFailed(ctx context.Context, tid, clientID string) {
	d.lock.fail(clientKey(tid, clientID), sourceFrom(ctx))
}

// ClientSucceeded clears the failures of clientID from the request's source.
func (d *Directory) ClientSucceeded(ctx context.Context, tid, clientID string) {
	d.lock.succeed(clientKey(tid, clientID), sourceFrom(ctx))
}

func clientKey(tid, clientID string) string {
	return tid + "/client/" + strings.ToLower(strings.TrimSpace(clientID))
}

// AuthenticateSecret checks a client secret for clientID. Every failure —
// unknown client, disabled, expired or wrong secret — is ErrBadCredential,
// and the digest comparison runs even for unknown clients so that timing
// does not reveal which client ids exist. While the request's source is
// backing off for the client, ErrLocked.
func (d *Directory) AuthenticateSecret(ctx context.Context, tid, clientID, secret string) (*ServicePrincipal, error) {
	key, src := clientKey(tid, clientID), sourceFrom(ctx)
	if d.lock.locked(key, src) {
		return nil, ErrLocked
	}
	sum := sha256.Sum256([]byte(secret))
	var sp *ServicePrincipal
	var candidates []PasswordCredential
	err := d.view(ctx, func(tx store.Tx) error {
		var s ServicePrincipal
		var a Application
		if getSP(tx, tid, clientID, &s) != nil || !strings.EqualFold(s.AppID, strings.TrimSpace(clientID)) {
			return nil
		}
		if getApp(tx, tid, s.AppID, &a) != nil {
			return nil
		}
		sp, candidates = &s, a.PasswordCredentials
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(candidates) == 0 {
		candidates = []PasswordCredential{{Digest: make([]byte, sha256.Size)}}
	}
	match := 0
	now := d.now()
	for _, s := range candidates {
		eq := subtle.ConstantTimeCompare(s.Digest, sum[:])
		if now.After(s.End) || now.Before(s.Start.Add(-5*time.Minute)) {
			eq = 0
		}
		match |= eq
	}
	if sp == nil || match != 1 || !sp.Enabled || secret == "" {
		d.lock.fail(key, src)
		return nil, ErrBadCredential
	}
	d.lock.succeed(key, src)
	return sp, nil
}

// PrincipalActive reports whether oid is an enabled user or service
// principal of tid. The token verifier asks it when the directory has
// changed since a token was last checked.
func (d *Directory) PrincipalActive(ctx context.Context, tid, oid string) (bool, error) {
	var active bool
	err := d.view(ctx, func(tx store.Tx) error {
		o, err := object(tx, tid, oid)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case o.User != nil:
			active = o.User.AccountEnabled
		case o.ServicePrincipal != nil:
			active = o.ServicePrincipal.Enabled
		}
		return nil
	})
	return active, err
}
