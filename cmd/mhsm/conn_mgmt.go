package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/client"
)

// mgmtConn is the management-plane connection of the group, keyvault
// (HSM resources), role and monitor commands: the session of connFlags
// (conn.go), the management endpoint derived from it, the subscription,
// and az's output flags (output.go).
type mgmtConn struct {
	connFlags
	subscription string
	out          output

	sess *client.Session
	base string // https://management.<domain>[:port]
	w    io.Writer
}

func (c *mgmtConn) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.subscription, "subscription", os.Getenv("MHSM_SUBSCRIPTION"),
		"subscription id (env MHSM_SUBSCRIPTION; default: the only subscription the account sees)")
	c.connFlags.bind(cmd, false)
	markGlobal(cmd, "subscription")
	c.out.bind(cmd)
}

// open loads the profile and settles the subscription.
func (c *mgmtConn) open(ctx context.Context) error {
	s, err := c.session(nil)
	if err != nil {
		return err
	}
	c.sess = s
	if c.base, err = s.Profile.ResourceURL("management"); err != nil {
		return err
	}
	if c.subscription == "" && c.devJSON != "" { // the dev principal's subscription
		_, d, err := devProfile(c.devJSON)
		if err != nil {
			return err
		}
		c.subscription = d.SubscriptionID
	}
	if c.subscription != "" {
		return nil
	}
	var subs struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	if err := c.call(ctx, "GET", "/subscriptions", "2019-11-01", nil, &subs); err != nil {
		return err
	}
	if len(subs.Value) != 1 {
		return fmt.Errorf("the account sees %d subscriptions: give --subscription", len(subs.Value))
	}
	c.subscription = subs.Value[0].SubscriptionID
	return nil
}

// sub is the subscription's resource id.
func (c *mgmtConn) sub() (string, error) {
	if c.subscription == "" {
		return "", errors.New("no subscription: give --subscription")
	}
	return "/subscriptions/" + c.subscription, nil
}

// call sends method path (a resource id, or a nextLink URL) with the
// api-version and decodes the answer into out.
func (c *mgmtConn) call(ctx context.Context, method, path, apiVersion string, in, out any) error {
	target := path
	if !strings.HasPrefix(path, "https://") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		target = c.base + path + sep + "api-version=" + apiVersion
	}
	return c.sess.Call(ctx, c.base, method, target, in, out)
}

// list follows a collection's nextLink pages.
func (c *mgmtConn) list(ctx context.Context, path, apiVersion string) ([]map[string]any, error) {
	all := []map[string]any{}
	for next := path; next != ""; {
		var page struct {
			Value    []map[string]any `json:"value"`
			NextLink string           `json:"nextLink"`
		}
		if err := c.call(ctx, "GET", next, apiVersion, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		next = page.NextLink
	}
	return all, nil
}

// waitProvisioned polls a resource until its provisioningState ends, as
// az's long-running-operation poller does, and returns it.
func (c *mgmtConn) waitProvisioned(ctx context.Context, path, apiVersion string) (map[string]any, error) {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var r map[string]any
		if err := c.call(ctx, "GET", path, apiVersion, nil, &r); err != nil {
			return nil, err
		}
		props, _ := r["properties"].(map[string]any)
		switch st, _ := props["provisioningState"].(string); st {
		case "Succeeded", "":
			return r, nil
		case "Failed", "Canceled":
			msg, _ := props["statusMessage"].(string)
			return r, fmt.Errorf("provisioning %s: %s", strings.ToLower(st), msg)
		}
		if time.Now().After(deadline) {
			return nil, errors.New("timed out waiting for provisioning")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// emit prints v per -o and --query.
func (c *mgmtConn) emit(v any) error { return c.out.print(c.w, v) }

// connCmd wires a mgmtConn into a command: flags, then open before run.
func connCmd(cmd *cobra.Command, c *mgmtConn, run func(ctx context.Context) error) *cobra.Command {
	c.flags(cmd)
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c.w = cmd.OutOrStdout()
		if err := c.open(cmd.Context()); err != nil {
			return err
		}
		return run(cmd.Context())
	}
	return cmd
}
