package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/client"
)

// mhsm login / logout / account: sign in as a service principal (secret
// or certificate), a user (password) or a managed identity, as az does.

func loginCmd() *cobra.Command {
	var (
		p                     client.Profile
		sp, identity, device  bool
		password, devJSON     string
		out                   output
		identityEP, identity2 string
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in: a service principal (secret or certificate), a user, or a managed identity.",
		Example: `  mhsm login --service-principal -u <appId> -p <secret> --tenant <tenant>
  mhsm login --service-principal -u <appId> --certificate cert.pem --tenant <tenant>
  mhsm login -u ada@mhsm.localhost -p '…'
  mhsm login --use-device-code --tenant mhsm.localhost
  mhsm login --identity        (uses IDENTITY_ENDPOINT and IDENTITY_HEADER)
  mhsm login --dev-json ./mhsm-data/dev.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if devJSON != "" {
				d, _, err := devProfile(devJSON) // conn.go: client.Dev
				if err != nil {
					return err
				}
				p.TenantID, p.Authority, p.Username, password = d.TenantID, d.Authority, d.ClientID, d.Secret
				if p.CAFile == "" {
					p.CAFile = d.CAFile
				}
				sp = true
			}
			switch {
			case device:
				p.Kind = client.KindUser
				if p.TenantID == "" {
					return errors.New("--use-device-code needs --tenant (tenant id or verified domain)")
				}
			case identity:
				p.Kind, p.IdentityEndpoint, p.IdentityHeader = client.KindIdentity, identityEP, identity2
				if p.IdentityEndpoint == "" || p.IdentityHeader == "" {
					return errors.New("--identity needs IDENTITY_ENDPOINT and IDENTITY_HEADER (or --identity-endpoint and --identity-header)")
				}
			case sp:
				p.ClientID = p.Username
				p.Username = ""
				if p.ClientID == "" || p.TenantID == "" {
					return errors.New("--service-principal needs -u <appId> and --tenant")
				}
				if p.CertFile != "" {
					p.Kind = client.KindCertificate
				} else {
					p.Kind, p.Secret = client.KindSecret, password
					if p.Secret == "" {
						return errors.New("--service-principal needs -p <secret> or --certificate")
					}
				}
			default:
				p.Kind = client.KindUser
				if p.Username == "" || password == "" {
					return errors.New("a user login needs -u <upn> and -p <password>")
				}
				if p.TenantID == "" { // the server resolves a verified domain as the tenant
					_, p.TenantID, _ = strings.Cut(p.Username, "@")
				}
			}
			graph, err := p.ResourceURL("graph")
			if err != nil {
				return err
			}
			if device {
				err = client.LoginDeviceCode(cmd.Context(), &p, graph, cmd.ErrOrStderr())
			} else {
				err = client.Login(cmd.Context(), &p, password, graph)
			}
			if err != nil {
				return err
			}
			s, err := client.Open()
			if err != nil {
				return err
			}
			tok, err := s.Token(cmd.Context(), graph)
			if err != nil {
				return err
			}
			claims := jwtClaims(tok)
			if tid, _ := claims["tid"].(string); tid != "" && tid != s.Profile.TenantID {
				s.Profile.TenantID = tid // a domain or (for identities) nothing was given
				if err := s.Profile.SaveKeepTokens(); err != nil {
					return err
				}
			}
			return out.print(cmd.OutOrStdout(), []map[string]any{{"tenantId": claims["tid"], "user": map[string]any{
				"name": firstOf(claims, "upn", "appid"), "type": map[bool]string{true: "user", false: "servicePrincipal"}[p.Kind == client.KindUser]},
				"objectId": claims["oid"]}})
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Authority, "authority", envOr("MHSM_AUTHORITY", "https://login.mhsm.localhost:8443"), "token issuer, https://login.<domain>[:port] (env MHSM_AUTHORITY)")
	f.StringVarP(&p.TenantID, "tenant", "t", "", "tenant id or verified domain")
	f.BoolVar(&sp, "service-principal", false, "sign in as a service principal (-u is its appId)")
	f.StringVarP(&p.Username, "username", "u", "", "user principal name, or the appId with --service-principal")
	f.StringVarP(&password, "password", "p", "", "password or client secret")
	f.StringVar(&p.CertFile, "certificate", "", "PEM file with a certificate and its private key (service principal)")
	f.BoolVar(&device, "use-device-code", false, "sign a user in with a code entered on the login page in a browser (device-code flow)")
	f.BoolVar(&identity, "identity", false, "sign in as the managed identity of IDENTITY_ENDPOINT/IDENTITY_HEADER")
	f.StringVar(&identityEP, "identity-endpoint", os.Getenv("IDENTITY_ENDPOINT"), "managed identity endpoint (env IDENTITY_ENDPOINT)")
	f.StringVar(&identity2, "identity-header", os.Getenv("IDENTITY_HEADER"), "managed identity header (env IDENTITY_HEADER)")
	f.StringVar(&p.CAFile, "ca-file", os.Getenv("MHSM_CA_FILE"), "PEM CA the server's certificate chains to (env MHSM_CA_FILE)")
	f.StringVar(&devJSON, "dev-json", "", "sign in as the dev service principal of a dev-mode server's dev.json")
	out.bind(cmd)
	return cmd
}

func logoutCmd() *cobra.Command {
	return &cobra.Command{Use: "logout", Short: "Forget the signed-in account and its tokens.", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return client.Logout() }}
}

func accountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "The signed-in account"}
	var out output
	show := &cobra.Command{Use: "show", Short: "Show the signed-in account (no secrets).", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := client.LoadProfile()
			if err != nil {
				return err
			}
			name := p.Username
			if name == "" {
				name = p.ClientID
			}
			return out.print(cmd.OutOrStdout(), map[string]any{"tenantId": p.TenantID, "authority": p.Authority,
				"user": map[string]any{"name": name, "type": p.Kind}})
		}}
	out.bind(show)
	var out2 output
	var resource, resourceType string
	tok := &cobra.Command{Use: "get-access-token", Short: "Print an access token for a resource.", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := client.Open()
			if err != nil {
				return err
			}
			if resource == "" {
				if resource, err = s.Profile.ResourceURL(resourceType); err != nil {
					return err
				}
			}
			t, err := s.Token(cmd.Context(), resource)
			if err != nil {
				return err
			}
			exp, _ := jwtClaims(t)["exp"].(float64)
			return out2.print(cmd.OutOrStdout(), map[string]any{"accessToken": t, "tokenType": "Bearer", "tenant": s.Profile.TenantID,
				"expiresOn": time.Unix(int64(exp), 0).Format("2006-01-02 15:04:05.000000")})
		}}
	tok.Flags().StringVar(&resource, "resource", "", "resource URL, e.g. https://managedhsm.mhsm.localhost:8443")
	tok.Flags().StringVar(&resourceType, "resource-type", "managedhsm", "graph, managedhsm or management (when --resource is not given)")
	out2.bind(tok)
	cmd.AddCommand(show, tok)
	return cmd
}

// jwtClaims decodes a token's claims without verifying them (for display).
func jwtClaims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return map[string]any{}
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func firstOf(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
