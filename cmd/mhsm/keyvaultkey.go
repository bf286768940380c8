package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/wire"
)

// mhsm keyvault key …: key commands named as az keyvault key's.

func keyvaultKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Key commands (az keyvault key …)"}
	cmd.AddCommand(keyListExpiringCmd())
	cmd.AddCommand(keyCmds()...) // kvkeys.go
	return cmd
}

// expiring is one key version that expires within the window.
type expiring struct {
	Name      string    `json:"name"`
	Kid       string    `json:"kid"`
	Expires   time.Time `json:"expires"`
	Enabled   bool      `json:"enabled"`
	Expired   bool      `json:"expired"`
	Remaining string    `json:"remaining"`
}

func keyListExpiringCmd() *cobra.Command {
	var c dataConn
	var within, output string
	var versions bool
	cmd := &cobra.Command{
		Use:   "list-expiring",
		Short: "List keys whose expiry (exp) falls within a window from now, expired ones included, soonest first",
		Long: `Lists every key whose current version has an expiry date within --within of now
(already expired keys included), for key expiry reviews. Needs keys/read/action
(Crypto Officer, Crypto User, Crypto Auditor, …). With --include-versions every
version of every key is checked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			win, err := parseSpan(within)
			if err != nil {
				return fmt.Errorf("--within: %w", err)
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("--output is table or json")
			}
			ctx := cmd.Context()
			if err := c.open(ctx); err != nil {
				return err
			}
			now := time.Now()
			keys, err := c.listAll(ctx, "/keys")
			if err != nil {
				return err
			}
			var out []expiring
			for _, k := range keys {
				items := []wire.KeyItem{k}
				if versions {
					name := keyName(k.Kid)
					if items, err = c.listAll(ctx, "/keys/"+name+"/versions"); err != nil {
						return fmt.Errorf("versions of %s: %w", name, err)
					}
				}
				for _, it := range items {
					if it.Attributes.Expires == nil {
						continue
					}
					exp := time.Unix(*it.Attributes.Expires, 0).UTC()
					if exp.After(now.Add(win)) {
						continue
					}
					enabled := it.Attributes.Enabled == nil || *it.Attributes.Enabled
					out = append(out, expiring{Name: keyName(it.Kid), Kid: it.Kid, Expires: exp, Enabled: enabled,
						Expired: !exp.After(now), Remaining: exp.Sub(now).Round(time.Minute).String()})
				}
			}
			sort.SliceStable(out, func(i, j int) bool { return out[i].Expires.Before(out[j].Expires) })
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if out == nil {
					out = []expiring{}
				}
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tEXPIRES\tREMAINING\tENABLED\tKID")
			for _, e := range out {
				rem := e.Remaining
				if e.Expired {
					rem = "EXPIRED"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", e.Name, e.Expires.Format(time.RFC3339), rem, e.Enabled, e.Kid)
			}
			return tw.Flush()
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&within, "within", "30d", "window from now: 30d, 72h, …")
	f.StringVar(&output, "output", "table", "table or json")
	f.BoolVar(&versions, "include-versions", false, "check every version, not only each key's current one")
	return cmd
}

// keyName is the name in a kid (https://host/keys/<name>[/<version>]).
func keyName(kid string) string {
	_, rest, ok := strings.Cut(kid, "/keys/")
	if !ok {
		return kid
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// listAll follows nextLink through a key list.
func (c *dataConn) listAll(ctx context.Context, path string) ([]wire.KeyItem, error) {
	return listPages[wire.KeyItem](ctx, c, path)
}

// listPages follows nextLink through any list. nextLinks are followed only
// on the HSM's own host, so the token never goes elsewhere.
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
		req, err := http.NewRequestWithContext(ctx, "GET", next, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(b, &e)
			return nil, &apiError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		var page wire.List[T]
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("list %s: %w", path, err)
		}
		all = append(all, page.Value...)
		next = ""
		if page.NextLink != nil {
			next = *page.NextLink
		}
	}
	return all, nil
}
