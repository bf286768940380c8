package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/config"
)

// mhsm audit: read, verify and query audit logs — the server's own log
// directory (<data-dir>/audit) or logs delivered by diagnostic settings, in
// a local directory or a blob container. Reading logs needs access to where
// they are, not any role on keys.

// auditServerFlags binds the audit configuration of `mhsm server`.
func auditServerFlags(cmd *cobra.Command, a *config.Audit) {
	f := cmd.Flags()
	f.VarPF(auditOn{&a.Off}, "audit", "", "record every request durably before answering; --audit=false only to benchmark").NoOptDefVal = "true"
	f.StringVar(&a.Dir, "audit-dir", a.Dir, "audit log directory (default <data-dir>/audit)")
	f.IntVar(&a.CheckpointRecords, "audit-checkpoint-records", a.CheckpointRecords, "sign a checkpoint after this many records")
	f.DurationVar(&a.CheckpointInterval, "audit-checkpoint-interval", a.CheckpointInterval, "sign a checkpoint over uncovered records at least this often")
	f.DurationVar(&a.CommitInterval, "audit-commit-interval", a.CommitInterval, "while the CPU is saturated, start group commits at most this often so more records share an fsync (0: back to back)")
	f.StringVar(&a.StorageRoot, "audit-storage-root", a.StorageRoot, "local directory standing in for storage accounts named by diagnostic settings (default <data-dir>/storage)")
	f.StringArrayVar(&a.Destinations, "audit-destination", a.Destinations, "named log destination for diagnostic settings: NAME=local:/dir or NAME=azblob:<container URL>[;account-key-env=VAR] (repeatable)")
	f.StringArrayVar(&a.DestinationScopes, "audit-destination-scope", a.DestinationScopes, "bind a named destination to the subscription (or resource group) whose principals may name it: NAME=/subscriptions/<id>[/resourceGroups/<rg>] (repeatable; an unbound destination cannot be named)")
}

// auditOn is the --audit flag: the negation of config.Audit.Off.
type auditOn struct{ off *bool }

func (o auditOn) String() string {
	if o.off == nil {
		return "true"
	}
	return strconv.FormatBool(!*o.off)
}

func (o auditOn) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*o.off = !v
	return nil
}

func (o auditOn) Type() string { return "bool" }

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and query audit logs"}
	cmd.AddCommand(auditVerifyCmd(), auditQueryCmd(), auditPublicKeyCmd())
	return cmd
}

// logSource is where logs are read from.
type logSource struct {
	dir, containerURL, keyEnv, hsm string
	nodes                          []string // more --dir: one audit directory per node (auditnodes.go)
}

func (s *logSource) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&s.nodes, "dir", nil, "log directory: the server's <data-dir>/audit, one chain's directory, or a tree of delivered logs (…/PT1H.json); repeat it for the audit directories of several nodes")
	f.StringVar(&s.containerURL, "container-url", "", "blob container of delivered logs, e.g. https://acct.blob.core.windows.net/insights-logs-auditevent?<SAS>")
	f.StringVar(&s.keyEnv, "account-key-env", "", "environment variable holding the storage account key (instead of a SAS)")
	f.StringVar(&s.hsm, "hsm-name", "", "only this HSM's log (\"_server\" for the server log)")
}

// sources lists the chains to read.
func (s *logSource) sources(ctx context.Context) ([]*audit.Source, error) {
	if len(s.nodes) > 1 {
		return s.nodeSources(ctx) // auditnodes.go
	}
	if len(s.nodes) == 1 {
		s.dir = s.nodes[0]
	}
	var files audit.Files
	base := ""
	switch {
	case s.dir != "" && s.containerURL != "":
		return nil, errors.New("give --dir or --container-url, not both")
	case s.containerURL != "":
		key := ""
		if s.keyEnv != "" {
			if key = os.Getenv(s.keyEnv); key == "" {
				return nil, fmt.Errorf("environment variable %s is empty", s.keyEnv)
			}
		}
		b, err := audit.NewBlob(s.containerURL, key)
		if err != nil {
			return nil, err
		}
		files = audit.BlobFiles{B: b}
	case s.dir != "":
		abs, err := filepath.Abs(s.dir)
		if err != nil {
			return nil, err
		}
		files, base = audit.DirFiles(abs), filepath.Base(abs)
	default:
		return nil, errors.New("give the logs: --dir DIR or --container-url URL")
	}
	all, err := audit.FindSources(ctx, files, base)
	if err != nil {
		return nil, err
	}
	var out []*audit.Source
	for _, src := range all {
		hsm := src.HSM
		if hsm == "" {
			hsm = audit.ServerChain
		}
		if s.hsm == "" || strings.EqualFold(s.hsm, hsm) {
			out = append(out, src)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no audit logs found there")
	}
	return out, nil
}

func auditVerifyCmd() *cobra.Command {
	var src logSource
	var pubFile string
	var allowTail, asJSON bool
	var out output
	var maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify audit logs: hash chain, signed checkpoints, nothing modified, deleted, inserted, reordered or cut off.",
		Long: `Verify checks every line of each chain: seq numbers without gaps, each line's
prevHash equal to the SHA-256 of the line before, and the Ed25519 signature of
every checkpoint. Lines after the last valid checkpoint are an unverified tail
(a truncated log, or one still being written) and fail verification unless
--allow-unverified-tail is given. Pin the key with --public-key (from
GET /mhsm/audit/publickey or 'mhsm audit public-key'); without it the key the
log carries is used, which proves consistency but not origin.

A log cut exactly after a checkpoint still verifies: compare the reported
"verified through" seq and time with an earlier verification or a delivered
copy, or use --max-age on a log of a busy HSM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srcs, err := src.sources(cmd.Context())
			if err != nil {
				return err
			}
			var pub ed25519.PublicKey
			if pubFile != "" {
				hsms := map[string]bool{}
				for _, s := range srcs {
					hsms[s.HSM] = true
				}
				if len(hsms) > 1 {
					return errors.New("--public-key pins one HSM's key: give --hsm-name too")
				}
				b, err := os.ReadFile(pubFile)
				if err != nil {
					return err
				}
				if pub, err = audit.ParsePublicKey(b); err != nil {
					return err
				}
			}
			if asJSON {
				out.format = "json"
			}
			// The default is the report a person reads; -o json|tsv|table
			// with --query gives the reports as data.
			report := out.format == "table" && out.query == ""
			failed := false
			reports := []verifyView{}
			var raw []*audit.Report // for the per-HSM merge of several nodes
			for _, s := range srcs {
				r, err := s.Verify(cmd.Context(), pub)
				if err != nil {
					return fmt.Errorf("%s: %w", s.Name, err)
				}
				if r.Chain == "" || len(src.nodes) > 1 { // several nodes: "<node>/<chain>"
					r.Chain = s.Name
				}
				ok := len(r.Problems) == 0 && r.Lines > 0 && (allowTail || r.UnverifiedTail == 0)
				if maxAge > 0 && time.Since(r.LastCheckpoint) > maxAge {
					r.Problems = append(r.Problems, audit.Problem{Where: "log", Kind: "stale",
						What: fmt.Sprintf("the last checkpoint is from %s, older than --max-age %s", r.LastCheckpoint.Format(time.RFC3339), maxAge)})
					ok = false
				}
				failed = failed || !ok
				reports = append(reports, reportView(r, ok))
				raw = append(raw, r)
				if report {
					printReport(cmd.OutOrStdout(), s, r, ok)
				}
			}
			if !report {
				if err := out.print(cmd.OutOrStdout(), reports); err != nil {
					return err
				}
			}
			if len(src.nodes) > 1 && report { // the person's report only: -o json|tsv stays data
				printMerged(cmd.OutOrStdout(), srcs, raw, allowTail) // auditnodes.go
			}
			if failed {
				return errors.New("audit verification failed")
			}
			return nil
		},
	}
	src.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&pubFile, "public-key", "", "PEM public key (or the JSON of GET /mhsm/audit/publickey) to pin the checkpoint signatures to")
	f.BoolVar(&allowTail, "allow-unverified-tail", false, "accept records after the last checkpoint (a log still being written)")
	f.DurationVar(&maxAge, "max-age", 0, "fail when the last checkpoint is older than this")
	f.BoolVar(&asJSON, "json", false, "same as -o json")
	_ = f.MarkHidden("json")
	out.bind(cmd)
	defaultOutput(cmd, "table")
	return cmd
}

// verifyView is one chain's verification as data (-o json).
type verifyView struct {
	Chain           string          `json:"chain"`
	Verdict         string          `json:"verdict"`
	Lines           int             `json:"lines"`
	Records         int             `json:"records"`
	Checkpoints     int             `json:"checkpoints"`
	FirstSeq        uint64          `json:"firstSeq"`
	LastSeq         uint64          `json:"lastSeq"`
	VerifiedThrough uint64          `json:"verifiedThrough"`
	LastCheckpoint  *time.Time      `json:"lastCheckpoint,omitempty"`
	KeyID           string          `json:"keyId,omitempty"`
	Pinned          bool            `json:"pinned"`
	UnverifiedTail  int             `json:"unverifiedTail"`
	Duplicates      int             `json:"duplicates"`
	Problems        []audit.Problem `json:"problems"`
}

func reportView(r *audit.Report, ok bool) verifyView {
	v := verifyView{Chain: r.Chain, Verdict: "OK", Lines: r.Lines, Records: r.Records, Checkpoints: r.Checkpoints, FirstSeq: r.FirstSeq,
		LastSeq: r.LastSeq, VerifiedThrough: r.VerifiedThrough, KeyID: r.KeyID, Pinned: r.Pinned, UnverifiedTail: r.UnverifiedTail,
		Duplicates: r.Duplicates, Problems: r.Problems}
	if !ok {
		v.Verdict = "FAILED"
	}
	if !r.LastCheckpoint.IsZero() {
		v.LastCheckpoint = &r.LastCheckpoint
	}
	if v.Problems == nil {
		v.Problems = []audit.Problem{}
	}
	return v
}

func printReport(w io.Writer, s *audit.Source, r *audit.Report, ok bool) {
	verdict := "OK"
	if !ok {
		verdict = "FAILED"
	}
	pinned := "unpinned: the log's own key"
	if r.Pinned {
		pinned = "pinned"
	}
	fmt.Fprintf(w, "%s: %s — %d records, %d checkpoints, seq %d..%d\n", r.Chain, verdict, r.Records, r.Checkpoints, r.FirstSeq, r.LastSeq)
	if r.VerifiedThrough > 0 {
		fmt.Fprintf(w, "  verified through seq %d (checkpoint of %s), key %s (%s)\n", r.VerifiedThrough, r.LastCheckpoint.Format(time.RFC3339), r.KeyID, pinned)
	}
	if r.UnverifiedTail > 0 {
		fmt.Fprintf(w, "  unverified tail: %d lines after the last valid checkpoint (truncated, or not yet checkpointed)\n", r.UnverifiedTail)
	}
	if r.Checkpoints == 0 && r.Lines > 0 {
		fmt.Fprintln(w, "  no checkpoint yet: the server signs one after --audit-checkpoint-records records, at least every --audit-checkpoint-interval, and at shutdown")
	}
	if s.Delivered {
		fmt.Fprintf(w, "  delivered log of %s; %d repeated lines ignored\n", s.Name, r.Duplicates)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

func auditQueryCmd() *cobra.Command {
	var src logSource
	var f audit.Filter
	var since, until string
	var out output
	var limit int
	cmd := &cobra.Command{
		Use:   "query",
		Short: "List audit records matching filters, oldest first.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if f.Since, err = parseWhen(since); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if f.Until, err = parseWhen(until); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			srcs, err := src.sources(cmd.Context())
			if err != nil {
				return err
			}
			var recs []*audit.Record
			for _, s := range srcs {
				err := s.Query(cmd.Context(), &f, func(r *audit.Record) error {
					recs = append(recs, r)
					return nil
				})
				if err != nil {
					return err
				}
			}
			sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
			if limit > 0 && len(recs) > limit {
				recs = recs[len(recs)-limit:]
			}
			if out.table() { // the columns a person scans
				rows := make([]queryRow, len(recs))
				for i, r := range recs {
					rows[i] = queryRow{Time: r.Time.Format(time.RFC3339), Operation: r.Operation, ResultType: r.ResultType,
						Status: r.Status, Caller: firstNonEmpty(r.Caller.UPN, r.Caller.ObjectID, "-"), CallerIP: r.CallerIP, ID: r.ID}
				}
				return out.print(cmd.OutOrStdout(), rows)
			}
			raw := make([]json.RawMessage, len(recs)) // the records as stored
			for i, r := range recs {
				raw[i] = r.Raw
			}
			return out.print(cmd.OutOrStdout(), raw)
		},
	}
	src.flags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "only records at or after: a duration ago (24h, 7d) or an RFC 3339 time")
	fl.StringVar(&until, "until", "", "only records before: a duration ago or an RFC 3339 time")
	fl.StringVar(&f.Principal, "principal", "", "caller object id, app id or UPN")
	fl.StringVar(&f.Operation, "operation", "", "operationName, e.g. KeySign, RoleAssignmentCreate, Authentication")
	fl.StringVar(&f.Result, "result", "", "Success or Failure, an HTTP status (403) or a result signature (Forbidden)")
	fl.StringVar(&f.RequestID, "request-id", "", "the x-ms-request-id of one request")
	fl.IntVar(&limit, "limit", 0, "only the last N matches")
	out.bind(cmd)
	defaultOutput(cmd, "table")
	cmd.Long = "The table shows the time, operation, result, HTTP status, caller, caller IP and request id\nof each record; -o json gives the records as stored (Azure's AuditEvent schema)."
	return cmd
}

// queryRow is one record in audit query's table.
type queryRow struct {
	Time       string `json:"time"`
	Operation  string `json:"operationName"`
	ResultType string `json:"resultType"`
	Status     int    `json:"status"`
	Caller     string `json:"caller"`
	CallerIP   string `json:"callerIpAddress"`
	ID         string `json:"id"`
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// parseWhen reads "" (no bound), a duration ago ("90m", "24h", "7d") or an
// RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseSpan(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor an RFC 3339 time", s)
	}
	return time.Now().Add(-d), nil
}

// parseSpan is time.ParseDuration plus a "d" (days) suffix.
func parseSpan(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("bad day count %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}

func auditPublicKeyCmd() *cobra.Command {
	var c dataConn
	var dir string
	cmd := &cobra.Command{
		Use:   "public-key",
		Short: "Print an HSM's audit signing public key (PEM), to pin with 'audit verify --public-key'.",
		Long: `With --dir, the copy the server keeps next to the chain (<dir>/<hsm>/publickey.pem):
convenient on the server host, but whoever can rewrite the log can rewrite it too.
Otherwise the key is fetched from the HSM (GET /mhsm/audit/publickey, which needs
roleAssignments/read at "/": Administrator, Policy Administrator or Crypto Auditor).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir != "" {
				if c.hsmName == "" {
					return errors.New("give --hsm-name with --dir")
				}
				b, err := os.ReadFile(filepath.Join(dir, strings.ToLower(c.hsmName), "publickey.pem"))
				if err != nil {
					return err
				}
				if _, err := audit.ParsePublicKey(b); err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if err := c.open(cmd.Context()); err != nil {
				return err
			}
			var k struct {
				PEM string `json:"publicKeyPem"`
			}
			if _, err := c.do(cmd.Context(), "GET", "/mhsm/audit/publickey", nil, &k); err != nil {
				return err
			}
			if _, err := audit.ParsePublicKey([]byte(k.PEM)); err != nil {
				return err
			}
			_, err := io.WriteString(cmd.OutOrStdout(), k.PEM)
			return err
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&dir, "dir", "", "read the server's local copy from this audit directory instead of asking the HSM")
	return cmd
}
