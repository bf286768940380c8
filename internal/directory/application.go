package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/store"
)

// Application is an app registration: the client id (AppID) and the
// credentials a client proves itself with. Its identity in a tenant is a
// ServicePrincipal; an application without one cannot get tokens.
type Application struct {
	ID                     string                `json:"id"`
	AppID                  string                `json:"appId"`
	TenantID               string                `json:"tenantId"`
	DisplayName            string                `json:"displayName"`
	IsFallbackPublicClient bool                  `json:"isFallbackPublicClient"`
	PasswordCredentials    []PasswordCredential  `json:"passwordCredentials,omitempty"`
	KeyCredentials         []KeyCredential       `json:"keyCredentials,omitempty"`
	FederatedCredentials   []FederatedCredential `json:"federatedIdentityCredentials,omitempty"`
	Created                time.Time             `json:"createdDateTime"`
}

// PasswordCredential is a client secret. Only a SHA-256 digest is stored:
// secrets are 256-bit random values made by the server, so a slow hash
// adds nothing. The plaintext is returned once, by AddPassword.
type PasswordCredential struct {
	KeyID       string    `json:"keyId"`
	DisplayName string    `json:"displayName,omitempty"`
	Hint        string    `json:"hint"`
	Digest      []byte    `json:"digest"`
	Start       time.Time `json:"startDateTime"`
	End         time.Time `json:"endDateTime"`
}

// KeyCredential is a certificate whose key signs client assertions.
type KeyCredential struct {
	KeyID          string    `json:"keyId"`
	DisplayName    string    `json:"displayName,omitempty"`
	Type           string    `json:"type"`  // AsymmetricX509Cert
	Usage          string    `json:"usage"` // Verify
	Cert           []byte    `json:"key"`   // DER
	Thumbprint     []byte    `json:"thumbprint"`
	ThumbprintS256 []byte    `json:"thumbprintS256"`
	Start          time.Time `json:"startDateTime"`
	End            time.Time `json:"endDateTime"`
}

// FederatedCredential trusts tokens from an external OIDC issuer for one
// subject: a workload that holds such a token may act as the application.
type FederatedCredential struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Issuer      string   `json:"issuer"`
	Subject     string   `json:"subject"`
	Audiences   []string `json:"audiences"`
	Description string   `json:"description,omitempty"`
}

// DefaultFederatedAudience is Entra ID's default audience for federated
// credentials.
const DefaultFederatedAudience = "api://AzureADTokenExchange"

func appIDKey(tid, appID string) string { return "dir/" + tid + "/appid/" + strings.ToLower(appID) }
func spAppIDKey(tid, appID string) string {
	return "dir/" + tid + "/spappid/" + strings.ToLower(appID)
}
func globalAppIDKey(appID string) string { return "dirx/appid/" + strings.ToLower(appID) }

// CreateApplication registers an application with a new client id.
func (d *Directory) CreateApplication(ctx context.Context, tid, displayName string, publicClient bool) (*Application, error) {
	if strings.TrimSpace(displayName) == "" || len(displayName) > 256 {
		return nil, invalidf("displayName is required (at most 256 characters)")
	}
	a := &Application{ID: uuid.NewString(), AppID: uuid.NewString(), TenantID: tid, DisplayName: displayName,
		IsFallbackPublicClient: publicClient, Created: d.now().UTC()}
	err := d.update(ctx, func(tx store.Tx) error {
		if err := requireTenant(tx, tid); err != nil {
			return err
		}
		if err := tx.Put(appIDKey(tid, a.AppID), []byte(a.ID)); err != nil {
			return err
		}
		if err := tx.Put(globalAppIDKey(a.AppID), []byte(tid)); err != nil {
			return err
		}
		return putObject(tx, tid, KindApplication, a.ID, a)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Application returns the application named by object id or client id.
func (d *Directory) Application(ctx context.Context, tid, idOrAppID string) (*Application, error) {
	var a Application
	if err := d.view(ctx, func(tx store.Tx) error { return getApp(tx, tid, idOrAppID, &a) }); err != nil {
		return nil, err
	}
	return &a, nil
}

func getApp(tx store.Tx, tid, idOrAppID string, a *Application) error {
	id, err := canonicalID(idOrAppID)
	if err != nil {
		return err
	}
	if err := store.GetJSON(tx, objKey(tid, KindApplication, id), a); err == nil {
		return nil
	}
	b, err := tx.Get(appIDKey(tid, id))
	if err != nil {
		return ErrNotFound
	}
	return store.GetJSON(tx, objKey(tid, KindApplication, string(b)), a)
}

// Applications lists the tenant's applications.
func (d *Directory) Applications(ctx context.Context, tid string) ([]Application, error) {
	var out []Application
	err := d.view(ctx, func(tx store.Tx) error {
		var err error
		out, err = store.ListJSON[Application](tx, "dir/"+tid+"/"+KindApplication+"/")
		return err
	})
	return out, err
}

// UpdateApplication changes an application's name and public-client flag.
func (d *Directory) UpdateApplication(ctx context.Context, tid, id string, displayName *string, publicClient *bool) (*Application, error) {
	return d.changeApp(ctx, tid, id, func(a *Application) error {
		if displayName != nil {
			if strings.TrimSpace(*displayName) == "" {
				return invalidf("displayName must not be empty")
			}
			a.DisplayName = *displayName
		}
		if publicClient != nil {
			a.IsFallbackPublicClient = *publicClient
		}
		return nil
	})
}

func (d *Directory) changeApp(ctx context.Context, tid, id string, fn func(*Application) error) (*Application, error) {
	var a Application
	err := d.update(ctx, func(tx store.Tx) error {
		a = Application{}
		if err := getApp(tx, tid, id, &a); err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
		return putObject(tx, tid, KindApplication, a.ID, &a)
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteApplication deletes the application and its service principal.
func (d *Directory) DeleteApplication(ctx context.Context, tid, id string) error {
	return d.update(ctx, func(tx store.Tx) error {
		var a Application
		if err := getApp(tx, tid, id, &a); err != nil {
			return err
		}
		if b, err := tx.Get(spAppIDKey(tid, a.AppID)); err == nil {
			if err := deleteSP(tx, tid, string(b)); err != nil {
				return err
			}
		}
		for _, k := range []string{appIDKey(tid, a.AppID), globalAppIDKey(a.AppID)} {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return deleteObject(tx, tid, KindApplication, a.ID)
	})
}

// AddPassword adds a client secret that is valid until end (zero: two
// years) and returns the credential and the secret, which is shown once
// and never stored.
func (d *Directory) AddPassword(ctx context.Context, tid, appID, displayName string, end time.Time) (*PasswordCredential, string, error) {
	// A secret starting with '-' reads as an option to az and other CLIs
	// ("az login -p -x…": "expected one argument"; CI met it once in 64
	// runs), so such a draw is discarded.
	var plain string
	for plain == "" || plain[0] == '-' {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, "", err
		}
		plain = base64.RawURLEncoding.EncodeToString(raw)
	}
	sum := sha256.Sum256([]byte(plain))
	now := d.now().UTC()
	if end.IsZero() {
		end = now.AddDate(2, 0, 0)
	}
	if !end.After(now) {
		return nil, "", invalidf("endDateTime must be in the future")
	}
	pc := PasswordCredential{KeyID: uuid.NewString(), DisplayName: displayName, Hint: plain[:3], Digest: sum[:], Start: now, End: end.UTC()}
	_, err := d.changeApp(ctx, tid, appID, func(a *Application) error {
		if len(a.PasswordCredentials) >= 20 {
			return invalidf("an application has at most 20 client secrets")
		}
		a.PasswordCredentials = append(a.PasswordCredentials, pc)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return &pc, plain, nil
}

// AddSecret adds a client secret valid for validity to the application
// with client id appID and returns the secret (shown once).
func (d *Directory) AddSecret(ctx context.Context, tid, appID string, validity time.Duration) (string, error) {
	_, plain, err := d.AddPassword(ctx, tid, appID, "", d.now().Add(validity))
	return plain, err
}

// RemovePassword deletes the client secret keyID.
func (d *Directory) RemovePassword(ctx context.Context, tid, appID, keyID string) error {
	_, err := d.changeApp(ctx, tid, appID, func(a *Application) error {
		for i, p := range a.PasswordCredentials {
			if strings.EqualFold(p.KeyID, keyID) {
				a.PasswordCredentials = append(a.PasswordCredentials[:i], a.PasswordCredentials[i+1:]...)
				return nil
			}
		}
		return ErrNotFound
	})
	return err
}

// AddCertificate adds a certificate credential (DER). Its validity is the
// certificate's unless start/end narrow it.
func (d *Directory) AddCertificate(ctx context.Context, tid, appID, displayName string, der []byte) (*KeyCredential, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, invalidf("the key credential is not an X.509 certificate")
	}
	s1 := sha1.Sum(cert.Raw)
	s256 := sha256.Sum256(cert.Raw)
	kc := KeyCredential{KeyID: uuid.NewString(), DisplayName: displayName, Type: "AsymmetricX509Cert", Usage: "Verify",
		Cert: cert.Raw, Thumbprint: s1[:], ThumbprintS256: s256[:], Start: cert.NotBefore.UTC(), End: cert.NotAfter.UTC()}
	_, err = d.changeApp(ctx, tid, appID, func(a *Application) error {
		if len(a.KeyCredentials) >= 20 {
			return invalidf("an application has at most 20 certificates")
		}
		a.KeyCredentials = append(a.KeyCredentials, kc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &kc, nil
}

// SetCertificates replaces the application's certificates (Graph PATCH).
func (d *Directory) SetCertificates(ctx context.Context, tid, appID string, creds []KeyCredential) (*Application, error) {
	if len(creds) > 20 {
		return nil, invalidf("an application has at most 20 certificates")
	}
	out := make([]KeyCredential, 0, len(creds))
	for _, c := range creds {
		cert, err := x509.ParseCertificate(c.Cert)
		if err != nil {
			return nil, invalidf("a key credential is not an X.509 certificate")
		}
		s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
		kc := KeyCredential{KeyID: c.KeyID, DisplayName: c.DisplayName, Type: "AsymmetricX509Cert", Usage: "Verify",
			Cert: cert.Raw, Thumbprint: s1[:], ThumbprintS256: s256[:], Start: cert.NotBefore.UTC(), End: cert.NotAfter.UTC()}
		if kc.KeyID == "" {
			kc.KeyID = uuid.NewString()
		}
		if !c.Start.IsZero() && c.Start.After(kc.Start) {
			kc.Start = c.Start.UTC()
		}
		if !c.End.IsZero() && c.End.Before(kc.End) {
			kc.End = c.End.UTC()
		}
		out = append(out, kc)
	}
	return d.changeApp(ctx, tid, appID, func(a *Application) error { a.KeyCredentials = out; return nil })
}

// AddFederatedCredential trusts issuer+subject for the application. The
// issuer must be an https URL; audiences default to
// DefaultFederatedAudience. Whether mhsm can verify the issuer's tokens is
// decided by the server's external-issuer configuration.
func (d *Directory) AddFederatedCredential(ctx context.Context, tid, appID string, fc FederatedCredential) (*FederatedCredential, error) {
	u, err := url.Parse(fc.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, invalidf("issuer must be an absolute https URL")
	}
	if fc.Subject == "" || len(fc.Subject) > 600 || fc.Name == "" || len(fc.Name) > 120 {
		return nil, invalidf("name and subject are required")
	}
	if len(fc.Audiences) == 0 {
		fc.Audiences = []string{DefaultFederatedAudience}
	}
	if len(fc.Audiences) != 1 {
		return nil, invalidf("exactly one audience is allowed")
	}
	fc.ID = uuid.NewString()
	_, err = d.changeApp(ctx, tid, appID, func(a *Application) error {
		if len(a.FederatedCredentials) >= 20 {
			return invalidf("an application has at most 20 federated credentials")
		}
		for _, x := range a.FederatedCredentials {
			if strings.EqualFold(x.Name, fc.Name) {
				return ErrExists
			}
			if x.Issuer == fc.Issuer && x.Subject == fc.Subject {
				return ErrExists
			}
		}
		a.FederatedCredentials = append(a.FederatedCredentials, fc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &fc, nil
}

// RemoveFederatedCredential deletes the federated credential with this id
// or name.
func (d *Directory) RemoveFederatedCredential(ctx context.Context, tid, appID, idOrName string) error {
	_, err := d.changeApp(ctx, tid, appID, func(a *Application) error {
		for i, x := range a.FederatedCredentials {
			if strings.EqualFold(x.ID, idOrName) || strings.EqualFold(x.Name, idOrName) {
				a.FederatedCredentials = append(a.FederatedCredentials[:i], a.FederatedCredentials[i+1:]...)
				return nil
			}
		}
		return ErrNotFound
	})
	return err
}

// TenantOfClient returns the tenant in which the client id appID is
// registered (an application or a managed identity), for token endpoints
// that carry no tenant in their URL.
func (d *Directory) TenantOfClient(ctx context.Context, appID string) (string, error) {
	var tid string
	err := d.view(ctx, func(tx store.Tx) error {
		b, err := tx.Get(globalAppIDKey(appID))
		if err != nil {
			return notFoundOr(err)
		}
		tid = string(b)
		return nil
	})
	return tid, err
}

// Built-in public client applications, usable in every tenant for the
// password and refresh_token grants without registration.
const (
	// MHSMCLIClientID is the mhsm CLI's client id.
	MHSMCLIClientID = "6d68736d-636c-4900-8000-000000000001"
	// AzureCLIClientID is the Azure CLI's well-known client id, so that
	// `az login -u … -p …` works against mhsm.
	AzureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	// ConsoleClientID is the web console's client id: a public client of
	// every tenant for the authorization-code grant with PKCE only (its
	// one redirect URI is https://console.<domain>[:port]/callback).
	ConsoleClientID = "6d68736d-636c-4900-8000-000000000002"
)

// PublicClient reports whether clientID may use the password grant
// without a secret in tenant tid: a built-in client, or an application
// registered with isFallbackPublicClient.
func (d *Directory) PublicClient(ctx context.Context, tid, clientID string) bool {
	switch strings.ToLower(strings.TrimSpace(clientID)) {
	case MHSMCLIClientID, AzureCLIClientID, ConsoleClientID:
		return true
	}
	a, err := d.Application(ctx, tid, clientID)
	return err == nil && strings.EqualFold(a.AppID, strings.TrimSpace(clientID)) && a.IsFallbackPublicClient
}
