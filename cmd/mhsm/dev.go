package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/app"
	"github.com/mhsm/mhsm/internal/httpapi"
)

// mhsm dev …: the test-double controls of a dev-mode server (mhsm server
// --dev): its clock, fault injection and state export. The server is named
// by its dev.json (--dev-json, $MHSM_DEV_JSON, else ./mhsm-data/dev.json);
// the CLI signs in as the dev principal it holds and connects to its addr.

func devCmd() *cobra.Command {
	var devJSON string
	cmd := &cobra.Command{Use: "dev", Short: "Control a dev-mode server's clock, fault injection and state export (docs/testing.md)."}
	def := os.Getenv("MHSM_DEV_JSON")
	if def == "" {
		def = "./mhsm-data/dev.json"
	}
	cmd.PersistentFlags().StringVar(&devJSON, "dev-json", def, "the server's dev.json ($MHSM_DEV_JSON)")
	clock := &cobra.Command{Use: "clock", Short: "Show or advance the server's clock."}
	var by string
	advance := devRun(&devJSON, "advance [DURATION]",
		"Move the clock forward (30d, 12h, 90m, 45s or ISO 8601 such as P1M) and run the work that fell due.",
		"mhsm dev clock advance --by 30d\nmhsm dev clock advance --by P1M --dev-json ./mhsm-dev/dev.json --query offset -o tsv",
		cobra.MaximumNArgs(1), func(args []string) (string, string, any, error) {
			if len(args) == 1 {
				by = args[0]
			}
			iso, err := isoDuration(by)
			if err != nil {
				return "", "", nil, err
			}
			return "POST", "clock", httpapi.ClockAdvance{Advance: iso}, nil
		})
	advance.Flags().StringVar(&by, "by", "", "how far (or give it as the argument: mhsm dev clock advance 30d)")
	clock.AddCommand(devRun(&devJSON, "show", "Print the server's time and its offset from the wall clock.",
		"mhsm dev clock show\nmhsm dev clock show --query now -o tsv", cobra.NoArgs,
		func([]string) (string, string, any, error) { return "GET", "clock", nil, nil }), advance)
	cmd.AddCommand(clock, devFaultsCmd(&devJSON), devExportCmd(&devJSON))
	return cmd
}

// devRun builds a dev command that calls /mhsm/dev/<what> as req says and
// prints the answer per -o and --query.
func devRun(devJSON *string, use, short, example string, args cobra.PositionalArgs, req func(args []string) (method, what string, in any, err error)) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use: use, Short: short, Example: indentExample(example), Args: args,
		RunE: func(cmd *cobra.Command, args []string) error {
			method, what, in, err := req(args)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := devCall(cmd, *devJSON, method, what, in, &buf); err != nil {
				return err
			}
			var v any
			if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), v)
		},
	}
	out.bind(cmd)
	return cmd
}

func devFaultsCmd(devJSON *string) *cobra.Command {
	cmd := &cobra.Command{Use: "faults", Short: "Inject faults (429, 500, 503, latency) into matching requests."}
	var r httpapi.FaultRule
	add := devRun(devJSON, "add", "Add a rule: --operation (or --path) with --status and/or --latency, for --count requests or a --fraction.",
		"mhsm dev faults add --operation KeyGet --status 429 --retry-after 1 --count 2\nmhsm dev faults add --path '/keys/*' --latency 200ms --fraction 0.5",
		cobra.NoArgs, func([]string) (string, string, any, error) {
			return "POST", "faults", httpapi.FaultRules{Rules: []httpapi.FaultRule{r}}, nil
		})
	f := add.Flags()
	f.StringVar(&r.Operation, "operation", "", "audit operationName to match (KeyGet, KeySign, …)")
	f.StringVar(&r.Path, "path", "", "glob over the request path instead (/keys/*)")
	f.IntVar(&r.Status, "status", 0, "answer 429, 500 or 503")
	f.IntVar(&r.RetryAfter, "retry-after", 0, "Retry-After seconds (429, 503)")
	f.StringVar(&r.Latency, "latency", "", "delay first (200ms)")
	f.IntVar(&r.Count, "count", 0, "fault only the next N matching requests")
	f.Float64Var(&r.Fraction, "fraction", 0, "fault this share (0-1) of matching requests")
	list := devRun(devJSON, "list", "List the rules and how often each fired.", "mhsm dev faults list\nmhsm dev faults list --query 'rules[].injected' -o tsv",
		cobra.NoArgs, func([]string) (string, string, any, error) { return "GET", "faults", nil, nil })
	clear := devRun(devJSON, "clear", "Remove every rule.", "mhsm dev faults clear -o none",
		cobra.NoArgs, func([]string) (string, string, any, error) { return "DELETE", "faults", nil, nil })
	cmd.AddCommand(add, list, clear)
	return cmd
}

func devExportCmd(devJSON *string) *cobra.Command {
	var out string
	var secrets bool
	cmd := &cobra.Command{
		Use: "export", Short: "Write the server's state to a file, for mhsm server --dev --seed.", Args: cobra.NoArgs,
		Example: indentExample("mhsm dev export --out state.json\nmhsm dev export --out state.json --include-secrets"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			if secrets {
				fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: the export holds private key material and client secrets; keep it out of version control unless it is test-only state")
			}
			var buf bytes.Buffer
			if err := devCall(cmd, *devJSON, "POST", "export", httpapi.ExportRequest{IncludeSecrets: secrets}, &buf); err != nil {
				return err
			}
			return os.WriteFile(out, buf.Bytes(), 0o600)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write (state.json)")
	cmd.Flags().BoolVar(&secrets, "include-secrets", false, "include key material and client secrets (without: public keys only; a seed makes fresh keys)")
	return cmd
}

var daysPattern = regexp.MustCompile(`^(\d{1,6})d$`)

// isoDuration turns "30d", "12h", "90m", "45s" or a Go duration into ISO
// 8601; an ISO 8601 duration (P…) passes through.
func isoDuration(s string) (string, error) {
	if strings.HasPrefix(strings.ToUpper(s), "P") {
		return strings.ToUpper(s), nil
	}
	if m := daysPattern.FindStringSubmatch(s); m != nil {
		return "P" + m[1] + "D", nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return "", fmt.Errorf("duration %q: use 30d, 12h, 90m, 45s or ISO 8601 such as P1M", s)
	}
	return "PT" + strconv.FormatInt(int64(d/time.Second), 10) + "S", nil
}

// devCall sends a request to /mhsm/dev/<what> of the server in devJSON as
// its dev principal; the JSON answer goes to out, else indented to stdout.
func devCall(cmd *cobra.Command, devJSON, method, what string, in any, out io.Writer) error {
	b, err := os.ReadFile(devJSON)
	if err != nil {
		return fmt.Errorf("dev.json: %w (start mhsm server --dev, or pass --dev-json)", err)
	}
	var d app.DevInfo
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("%s: %w", devJSON, err)
	}
	hc, err := devHTTPClient(&d)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	tok, err := devToken(ctx, hc, &d)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(d.HSMURL, "/")+"/mhsm/dev/"+what, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s /mhsm/dev/%s: %d %s", method, what, resp.StatusCode, strings.TrimSpace(string(rb)))
	}
	if out == nil {
		out = cmd.OutOrStdout()
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, rb, "", "  "); err != nil {
		return err
	}
	pretty.WriteByte('\n')
	_, err = out.Write(pretty.Bytes())
	return err
}

// devHTTPClient trusts the dev CA and dials the server's addr for every
// host (MHSM_CONNECT overrides the address).
func devHTTPClient(d *app.DevInfo) (*http.Client, error) {
	pem, err := os.ReadFile(d.CAFile)
	if err != nil {
		return nil, fmt.Errorf("dev CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", d.CAFile)
	}
	addr := d.Addr
	if env := os.Getenv("MHSM_CONNECT"); env != "" {
		addr = env
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DialContext: dialer.DialContext}
	if addr != "" {
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		}
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}

// devToken gets a data-plane token for the dev principal (client
// credentials).
func devToken(ctx context.Context, hc *http.Client, d *app.DevInfo) (string, error) {
	u, err := url.Parse(d.HSMURL)
	if err != nil || !strings.Contains(u.Host, ".") {
		return "", fmt.Errorf("dev.json hsmUrl %q is not a URL", d.HSMURL)
	}
	resource := "https://" + u.Host[strings.IndexByte(u.Host, '.')+1:] // managedhsm.<domain>[:port]
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {d.ClientID}, "client_secret": {d.ClientSecret},
		"scope": {resource + "/.default"}}
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(d.AuthorityHost, "/")+"/"+d.TenantID+"/oauth2/v2.0/token",
		strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tr) != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token for the dev principal: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return tr.AccessToken, nil
}
