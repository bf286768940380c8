package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/client"
)

// The one connection stack of the CLI. Every command that talks to a
// server gets a client.Session from connFlags.session, whoever it signs in
// as:
//
//   - --dev-json FILE (or MHSM_DEV_JSON): the dev service principal of a
//     dev-mode server, tokens kept in memory, nothing saved;
//   - --token, or --tenant/--client-id/--client-secret (data-plane commands):
//     explicit credentials, nothing saved;
//   - otherwise the signed-in profile of `mhsm login` and its token cache.
//
// Every session dials through client.Dial: --connect or MHSM_CONNECT (no
// /etc/hosts entries needed), --ca-file or MHSM_CA_FILE or the CA of
// dev.json / the profile. New commands use one of the three builders:
// dataCmd (an HSM's data plane, this file), graphCmd (the directory,
// ad.go) and connCmd (the management plane, conn_mgmt.go); each binds
// these flags and az's output flags (output.go).

// connFlags are the connection flags every server-talking command has.
type connFlags struct {
	devJSON, connect, caFile string
	// Explicit credentials, bound by data-plane commands only.
	token, tenant, clientID, secret, authority string
	explicit                                   bool
}

// bind adds the flags; explicit adds --token and the client-credential
// flags (data-plane commands).
func (f *connFlags) bind(cmd *cobra.Command, explicit bool) {
	fs := cmd.Flags()
	fs.StringVar(&f.devJSON, "dev-json", os.Getenv("MHSM_DEV_JSON"), "sign in as the dev service principal of this dev.json instead of the signed-in account (env MHSM_DEV_JSON)")
	fs.StringVar(&f.connect, "connect", "", "host:port to dial for every host name (default: env MHSM_CONNECT, else DNS)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM CA the server's certificate chains to (default: env MHSM_CA_FILE, else the profile's or dev.json's)")
	f.explicit = explicit
	defer markGlobal(cmd, "dev-json", "connect", "ca-file", "token", "tenant", "client-id", "client-secret", "authority")
	if !explicit {
		return
	}
	fs.StringVar(&f.token, "token", os.Getenv("MHSM_TOKEN"), "data-plane bearer token to send as is (env MHSM_TOKEN)")
	fs.StringVar(&f.tenant, "tenant", "", "tenant id, with --client-id and --client-secret")
	fs.StringVar(&f.clientID, "client-id", "", "client id of a service principal to sign in as (client credentials)")
	fs.StringVar(&f.secret, "client-secret", os.Getenv("MHSM_CLIENT_SECRET"), "client secret for --client-id (env MHSM_CLIENT_SECRET)")
	fs.StringVar(&f.authority, "authority", "", "token issuer for --client-id, https://login.<domain>[:port] (default: derived from the HSM URL)")
}

func (f *connFlags) dial() client.Dial { return client.Dial{Connect: f.connect, CAFile: f.caFile} }

// session returns the session the flags name. hsmURL (may be nil) is the
// data-plane URL the command targets; explicit credentials derive their
// default authority from it.
func (f *connFlags) session(hsmURL *url.URL) (*client.Session, error) {
	switch {
	case f.token != "":
		p := &client.Profile{Kind: client.KindSecret, Authority: f.authority}
		if p.Authority == "" && hsmURL != nil {
			p.Authority = authorityOf(hsmURL)
		}
		s, err := client.NewSession(p, f.dial())
		if err != nil {
			return nil, err
		}
		s.Bearer = f.token
		return s, nil
	case f.clientID != "":
		if f.tenant == "" || f.secret == "" {
			return nil, errors.New("--client-id needs --tenant and --client-secret")
		}
		p := &client.Profile{Kind: client.KindSecret, TenantID: f.tenant, ClientID: f.clientID, Secret: f.secret, Authority: f.authority}
		if p.Authority == "" {
			if hsmURL == nil {
				return nil, errors.New("--client-id needs --authority or an HSM URL")
			}
			p.Authority = authorityOf(hsmURL)
		}
		return client.NewSession(p, f.dial())
	case f.devJSON != "":
		p, _, err := devProfile(f.devJSON)
		if err != nil {
			return nil, err
		}
		return client.NewSession(p, f.dial())
	}
	s, err := client.OpenDial(f.dial())
	if errors.Is(err, client.ErrNotLoggedIn) {
		hint := "run `mhsm login`, or give --dev-json"
		if f.explicit {
			hint += ", --token or --client-id"
		}
		return nil, fmt.Errorf("not logged in: %s", hint)
	}
	return s, err
}

// devProfile reads a dev-mode server's dev.json (client.Dev) as an
// unsaved profile of its service principal.
func devProfile(path string) (*client.Profile, client.Dev, error) {
	d, err := client.ReadDev(path)
	if err != nil {
		return nil, d, err
	}
	if d.ClientID == "" || d.TenantID == "" || d.AuthorityHost == "" {
		return nil, d, fmt.Errorf("%s is not a dev.json (tenantId, clientId or authorityHost missing)", path)
	}
	return &client.Profile{Kind: client.KindSecret, Authority: strings.TrimRight(d.AuthorityHost, "/"), TenantID: d.TenantID,
		ClientID: d.ClientID, Secret: d.ClientSecret, CAFile: d.CAFile}, d, nil
}

// authorityOf is https://login.<domain>[:port] for an HSM URL
// https://<hsm>.managedhsm.<domain>[:port].
func authorityOf(hsm *url.URL) string {
	_, parent, _ := strings.Cut(hsm.Host, ".") // managedhsm.<domain>[:port]
	_, domain, _ := strings.Cut(parent, ".")   // <domain>[:port]
	return "https://login." + domain
}

// dataConn is an HSM's data plane: --hsm-name (its URL derived from the
// signed-in account's or dev.json's domain) or --id URL, and the session
// of connFlags. Commands get one from dataCmd; c.do and listPages call it.
type dataConn struct {
	connFlags
	hsmName, url string

	sess     *client.Session
	base     string // https://<hsm>.managedhsm.<domain>[:port]
	resource string // https://managedhsm.<domain>[:port], the token audience
	// tableView is set by dataCmd when the result prints as a table.
	tableView bool
}

func (c *dataConn) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.hsmName, "hsm-name", "", "name of the HSM")
	f.StringVar(&c.url, "id", "", "URL of the HSM instead of --hsm-name, e.g. https://contoso.managedhsm.mhsm.localhost:8443")
	c.connFlags.bind(cmd, true)
	markGlobal(cmd, "id")
}

// open settles the HSM URL and the session, and gets a data-plane token
// (so a wrong login fails before any work).
func (c *dataConn) open(ctx context.Context) error {
	target := c.url
	if target == "" && c.hsmName == "" && c.devJSON != "" {
		_, d, err := devProfile(c.devJSON)
		if err != nil {
			return err
		}
		target = d.HSMURL
	}
	var u *url.URL
	if target != "" {
		var err error
		if u, err = url.Parse(strings.TrimRight(target, "/")); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("--id %q is not an https URL", target)
		}
	}
	s, err := c.session(u)
	if err != nil {
		return err
	}
	if u == nil {
		if c.hsmName == "" {
			return errors.New("--hsm-name is required (or --id URL)")
		}
		base, err := s.Profile.ResourceURL(strings.ToLower(c.hsmName) + ".managedhsm")
		if err != nil {
			return err
		}
		if u, err = url.Parse(base); err != nil {
			return err
		}
	}
	_, parent, _ := strings.Cut(u.Host, ".")
	c.sess, c.base, c.resource = s, u.Scheme+"://"+u.Host, "https://"+parent
	_, err = s.Token(ctx, c.resource)
	return err
}

// do calls path (relative to the HSM, api-version added) and decodes a
// 2xx JSON answer into out. The status is 200 on success, the answer's on
// an error (a *client.Error), 0 when no answer came.
func (c *dataConn) do(ctx context.Context, method, path string, in, out any) (int, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	err := c.sess.Call(ctx, c.resource, method, c.base+path+sep+"api-version=7.6", in, out)
	var e *client.Error
	switch {
	case err == nil:
		return 200, nil
	case errors.As(err, &e):
		return e.Status, err
	}
	return 0, err
}

// listPages follows nextLink through any data-plane list. nextLinks are
// followed only on the HSM's own host, so the token never goes elsewhere.
func listPages[T any](ctx context.Context, c *dataConn, path string) ([]T, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	next := c.base + path + sep + "api-version=7.6"
	all := []T{}
	for pages := 0; next != ""; pages++ {
		if pages > 10000 || !strings.HasPrefix(next, c.base+"/") {
			return nil, fmt.Errorf("refusing to follow nextLink %q", next)
		}
		var page struct {
			Value    []T     `json:"value"`
			NextLink *string `json:"nextLink"`
		}
		if err := c.sess.Call(ctx, c.resource, "GET", next, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		next = ""
		if page.NextLink != nil {
			next = *page.NextLink
		}
	}
	return all, nil
}

// dataCmd builds a data-plane command: connection flags (dataConn),
// output flags (-o, --query), and run, whose result is printed (nil: no
// output). setup binds the command's own flags. Before run, c.tableView
// says whether the result prints as the command's table (tables.go), so
// run may add the fields only the table shows.
func dataCmd(use, short string, setup func(*cobra.Command), run func(ctx context.Context, c *dataConn) (any, error)) *cobra.Command {
	var c dataConn
	var out output
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := c.open(ctx); err != nil {
				return err
			}
			c.tableView = out.table()
			v, err := run(ctx, &c)
			if err != nil || v == nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), v)
		},
	}
	c.flags(cmd)
	out.bind(cmd)
	if setup != nil {
		setup(cmd)
	}
	return cmd
}
