package client

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// CLIClientID is the mhsm CLI's built-in public client id (the server
// accepts it in every tenant for the password and refresh_token grants).
const CLIClientID = "6d68736d-636c-4900-8000-000000000001"

// Session is a profile with its HTTP client: the one way the CLI talks to
// a server. Open uses the signed-in profile and its token cache
// (tokens.json); NewSession uses a profile that is not saved (dev.json,
// flags) and keeps its tokens in memory.
type Session struct {
	Profile *Profile
	HTTP    *http.Client
	// Bearer, when set, is sent for every resource instead of acquiring a
	// token (the --token flag).
	Bearer string

	ephemeral bool                   // NewSession: never write the configuration directory
	mem       map[string]cachedToken // ephemeral sessions' token cache
}

// Open loads the signed-in profile and builds its HTTP client (Dial's
// zero value: MHSM_CONNECT, MHSM_CA_FILE, the profile's caFile).
func Open() (*Session, error) { return OpenDial(Dial{}) }

// OpenDial loads the signed-in profile and builds its HTTP client with d.
func OpenDial(d Dial) (*Session, error) {
	p, err := LoadProfile()
	if err != nil {
		return nil, err
	}
	hc, err := d.httpClient(p.CAFile)
	if err != nil {
		return nil, err
	}
	return &Session{Profile: p, HTTP: hc}, nil
}

// NewSession is a session for a profile that is not saved: its tokens
// stay in memory and nothing is written to the configuration directory.
func NewSession(p *Profile, d Dial) (*Session, error) {
	hc, err := d.httpClient(p.CAFile)
	if err != nil {
		return nil, err
	}
	return &Session{Profile: p, HTTP: hc, ephemeral: true, mem: map[string]cachedToken{}}, nil
}

type cachedToken struct {
	AccessToken string `json:"accessToken"`
	ExpiresOn   int64  `json:"expiresOn"`
}

// Token returns an access token for resource (e.g.
// https://graph.<domain>:8443), from the cache while it has five minutes
// left, else newly acquired.
func (s *Session) Token(ctx context.Context, resource string) (string, error) {
	if s.Bearer != "" {
		return s.Bearer, nil
	}
	resource = strings.TrimRight(resource, "/")
	if s.ephemeral {
		if c, ok := s.mem[resource]; ok && time.Until(time.Unix(c.ExpiresOn, 0)) > 5*time.Minute {
			return c.AccessToken, nil
		}
		tok, exp, err := s.acquire(ctx, resource, "")
		if err != nil {
			return "", err
		}
		s.mem[resource] = cachedToken{AccessToken: tok, ExpiresOn: exp.Unix()}
		return tok, nil
	}
	cache := map[string]cachedToken{}
	if p, err := file("tokens.json"); err == nil {
		if b, err := os.ReadFile(p); err == nil {
			_ = json.Unmarshal(b, &cache)
		}
	}
	if c, ok := cache[resource]; ok && time.Until(time.Unix(c.ExpiresOn, 0)) > 5*time.Minute {
		return c.AccessToken, nil
	}
	tok, exp, err := s.acquire(ctx, resource, "")
	if err != nil {
		return "", err
	}
	cache[resource] = cachedToken{AccessToken: tok, ExpiresOn: exp.Unix()}
	if err := writePrivate("tokens.json", cache); err != nil {
		return "", err
	}
	return tok, nil
}

// Login checks the profile's credentials by getting a token for resource
// (a user's password is exchanged for a refresh token and not kept), and
// saves the profile.
func Login(ctx context.Context, p *Profile, password, resource string) error {
	hc, err := HTTPClient(p.CAFile)
	if err != nil {
		return err
	}
	s := &Session{Profile: p, HTTP: hc}
	tok, exp, err := s.acquire(ctx, resource, password)
	if err != nil {
		return err
	}
	if err := p.Save(); err != nil {
		return err
	}
	return writePrivate("tokens.json", map[string]cachedToken{strings.TrimRight(resource, "/"): {AccessToken: tok, ExpiresOn: exp.Unix()}})
}

func (s *Session) tokenEndpoint() string {
	return strings.TrimRight(s.Profile.Authority, "/") + "/" + s.Profile.TenantID + "/oauth2/v2.0/token"
}

// acquire gets a new token; password is used only at login.
func (s *Session) acquire(ctx context.Context, resource, password string) (string, time.Time, error) {
	p := s.Profile
	f := url.Values{"scope": {resource + "/.default"}}
	switch p.Kind {
	case KindSecret:
		f.Set("grant_type", "client_credentials")
		f.Set("client_id", p.ClientID)
		f.Set("client_secret", p.Secret)
	case KindCertificate:
		a, err := s.assertion()
		if err != nil {
			return "", time.Time{}, err
		}
		f.Set("grant_type", "client_credentials")
		f.Set("client_id", p.ClientID)
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		f.Set("client_assertion", a)
	case KindUser:
		f.Set("client_id", CLIClientID)
		f.Set("scope", resource+"/.default offline_access")
		if password != "" {
			f.Set("grant_type", "password")
			f.Set("username", p.Username)
			f.Set("password", password)
		} else {
			if p.RefreshToken == "" {
				return "", time.Time{}, errors.New("the sign-in has expired: run mhsm login again")
			}
			f.Set("grant_type", "refresh_token")
			f.Set("refresh_token", p.RefreshToken)
		}
	case KindIdentity:
		return s.identityToken(ctx, resource)
	default:
		return "", time.Time{}, fmt.Errorf("unknown login kind %q", p.Kind)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.tokenEndpoint(), strings.NewReader(f.Encode()))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tr struct {
		AccessToken  string `json:"access_token"`
		ExpiresIn    int    `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	if err := s.doJSON(req, &tr); err != nil {
		return "", time.Time{}, err
	}
	if tr.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("sign-in failed: %s", firstNonEmpty(tr.Description, tr.Error, "no token"))
	}
	if p.Kind == KindUser && tr.RefreshToken != "" {
		p.RefreshToken = tr.RefreshToken // refresh tokens are single-use: keep the new one
		if password == "" && !s.ephemeral {
			if err := writePrivate("profile.json", p); err != nil {
				return "", time.Time{}, err
			}
		}
	}
	return tr.AccessToken, time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second), nil
}

// identityToken asks the managed identity endpoint (App Service style).
func (s *Session) identityToken(ctx context.Context, resource string) (string, time.Time, error) {
	u := s.Profile.IdentityEndpoint + "?api-version=2019-08-01&resource=" + url.QueryEscape(resource)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("X-IDENTITY-HEADER", s.Profile.IdentityHeader)
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   string `json:"expires_on"`
		Message     string `json:"message"`
	}
	plain := &http.Client{Timeout: 30 * time.Second} // loopback plain HTTP: no CA, no MHSM_CONNECT
	resp, err := plain.Do(req)
	if err != nil {
		return "", time.Time{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(b, &tr)
	if resp.StatusCode != 200 || tr.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("managed identity endpoint: %s %s", resp.Status, tr.Message)
	}
	exp, _ := strconv.ParseInt(tr.ExpiresOn, 10, 64)
	return tr.AccessToken, time.Unix(exp, 0), nil
}

func (s *Session) doJSON(req *http.Request, out any) error {
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// assertion signs a client assertion with the profile's certificate:
// PS256 (RSA) or ES256 (EC), x5t#S256 naming the certificate, aud the
// token endpoint.
func (s *Session) assertion() (string, error) {
	cert, key, err := LoadCertificate(s.Profile.CertFile)
	if err != nil {
		return "", err
	}
	alg := jose.PS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	sum := sha256.Sum256(cert.Raw)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t#S256", base64.RawURLEncoding.EncodeToString(sum[:])))
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	c := jwt.Claims{Issuer: s.Profile.ClientID, Subject: s.Profile.ClientID, Audience: jwt.Audience{s.tokenEndpoint()},
		ID: hex.EncodeToString(jti), NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute))}
	return jwt.Signed(sig).Claims(c).Serialize()
}

// LoadCertificate reads a PEM file holding a certificate and its private
// key (PKCS#8, PKCS#1 or SEC 1).
func LoadCertificate(path string) (*x509.Certificate, crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var cert *x509.Certificate
	var key crypto.Signer
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			if cert == nil {
				cert, err = x509.ParseCertificate(blk.Bytes)
			}
		case "PRIVATE KEY":
			var k any
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
			key, _ = k.(crypto.Signer)
		case "RSA PRIVATE KEY":
			var k *rsa.PrivateKey
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
			key = k
		case "EC PRIVATE KEY":
			var k *ecdsa.PrivateKey
			k, err = x509.ParseECPrivateKey(blk.Bytes)
			key = k
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if cert == nil || key == nil {
		return nil, nil, fmt.Errorf("%s must hold a CERTIFICATE and its PRIVATE KEY in PEM", path)
	}
	return cert, key, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
