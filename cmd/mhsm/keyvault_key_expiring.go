package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/wire"
)

// mhsm keyvault key list-expiring: keys whose expiry falls within a window,
// for expiry reviews (az has no such command).

// expiring is one key version that expires within the window.
type expiring struct {
	Name    string    `json:"name"`
	Kid     string    `json:"kid"`
	Expires time.Time `json:"expires"`
	Enabled bool      `json:"enabled"`
	Expired bool      `json:"expired"`
	// DaysLeft is the whole days until expiry, negative once expired.
	DaysLeft int `json:"daysLeft"`
}

func keyListExpiringCmd() *cobra.Command {
	var within string
	var versions bool
	cmd := dataCmd("list-expiring", "List the keys that expire within a window from now, expired ones included, soonest first.", func(cmd *cobra.Command) {
		f := cmd.Flags()
		f.StringVar(&within, "within", "30d", "window from now: 30d, 72h, …")
		f.BoolVar(&versions, "include-versions", false, "check every version, not only each key's current one")
		defaultOutput(cmd, "table")
	}, func(ctx context.Context, c *dataConn) (any, error) {
		win, err := parseSpan(within)
		if err != nil {
			return nil, fmt.Errorf("--within: %w", err)
		}
		now := time.Now()
		keys, err := c.listAll(ctx, "/keys")
		if err != nil {
			return nil, err
		}
		out := []expiring{}
		for _, k := range keys {
			items := []wire.KeyItem{k}
			if versions {
				name := keyName(k.Kid)
				if items, err = c.listAll(ctx, "/keys/"+name+"/versions"); err != nil {
					return nil, fmt.Errorf("versions of %s: %w", name, err)
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
					Expired: !exp.After(now), DaysLeft: int(math.Floor(exp.Sub(now).Hours() / 24))})
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Expires.Before(out[j].Expires) })
		return out, nil
	})
	cmd.Long = `Lists every key whose current version has an expiry date within --within of now
(already expired keys included, with a negative daysLeft), for key expiry
reviews. Needs keys/read/action (Crypto Officer, Crypto User, Crypto Auditor,
…). With --include-versions every version of every key is checked. The default
output is a table; -o json gives name, kid, expires, enabled, expired, daysLeft.`
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
