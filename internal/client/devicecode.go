package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// LoginDeviceCode signs a user in with the device-code flow (RFC 8628), as
// `az login --use-device-code`: it asks for a code for resource, writes the
// instructions to prompt, and polls until the user has approved it on the
// verification page (or the code expires or ctx ends). The user's
// refresh token is kept in the profile, as for a password login.
func LoginDeviceCode(ctx context.Context, p *Profile, resource string, prompt io.Writer) error {
	hc, err := HTTPClient(p.CAFile)
	if err != nil {
		return err
	}
	s := &Session{Profile: p, HTTP: hc}
	base := strings.TrimRight(p.Authority, "/") + "/" + url.PathEscape(p.TenantID) + "/oauth2/v2.0/"
	scope := resource + "/.default offline_access"
	var dc struct {
		DeviceCode string `json:"device_code"`
		Interval   int    `json:"interval"`
		ExpiresIn  int    `json:"expires_in"`
		Message    string `json:"message"`
		Error      string `json:"error_description"`
	}
	if err := s.postForm(ctx, base+"devicecode", url.Values{"client_id": {CLIClientID}, "scope": {scope}}, &dc); err != nil {
		return err
	}
	if dc.DeviceCode == "" {
		return fmt.Errorf("device code: %s", firstNonEmpty(dc.Error, "no code"))
	}
	fmt.Fprintln(prompt, dc.Message)
	interval := time.Duration(max(dc.Interval, 1)) * time.Second
	deadline := time.Now().Add(time.Duration(dc.ExpiresIn) * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		var tr struct {
			AccessToken  string `json:"access_token"`
			ExpiresIn    int    `json:"expires_in"`
			RefreshToken string `json:"refresh_token"`
			Error        string `json:"error"`
			Description  string `json:"error_description"`
		}
		err := s.postForm(ctx, base+"token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
			"client_id": {CLIClientID}, "device_code": {dc.DeviceCode}, "scope": {scope}}, &tr)
		if err != nil {
			return err
		}
		switch {
		case tr.AccessToken != "":
			p.Kind, p.RefreshToken = KindUser, tr.RefreshToken
			p.Username = upnOf(tr.AccessToken)
			if err := p.Save(); err != nil {
				return err
			}
			return writePrivate("tokens.json", map[string]cachedToken{strings.TrimRight(resource, "/"): {AccessToken: tr.AccessToken,
				ExpiresOn: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second).Unix()}})
		case tr.Error == "authorization_pending":
		case tr.Error == "slow_down":
			interval += 5 * time.Second
		default:
			return fmt.Errorf("sign-in failed: %s", firstNonEmpty(tr.Description, tr.Error, "no token"))
		}
	}
	return errors.New("sign-in failed: the device code expired")
}

func (s *Session) postForm(ctx context.Context, u string, f url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(f.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.doJSON(req, out)
}

// upnOf reads the upn claim of a token this client just received (for the
// profile's display name only).
func upnOf(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		UPN string `json:"upn"`
	}
	_ = json.Unmarshal(b, &c)
	return c.UPN
}
