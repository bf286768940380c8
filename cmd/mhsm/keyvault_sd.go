package main

import (
	"context"
	"crypto"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/securitydomain"
	"github.com/mhsm/mhsm/internal/wire"
)

// `mhsm keyvault security-domain …`: the security domain commands with the
// Azure CLI's names and flags (az keyvault security-domain). restore-blob
// runs offline; the others talk to the HSM.

// azListFlags take several values after one flag, as az's nargs='+'
// arguments do: "--sd-wrapping-keys a.cer b.cer c.cer".
var azListFlags = []string{"--sd-wrapping-keys", "--passwords", "--administrators", "--ip-rules", "--ids", "--ops", "--tags"}

// azListArgs rewrites "--flag a b c" into "--flag a --flag b --flag c" for
// azListFlags, so pflag's repeated-flag lists accept az's syntax.
func azListArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if !slices.Contains(azListFlags, a) || i+1 >= len(args) {
			continue
		}
		i++
		out = append(out, args[i])
		for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
			out = append(out, a, args[i])
		}
	}
	return out
}

func keyvaultCmd() *cobra.Command {
	kv := &cobra.Command{Use: "keyvault", Short: "Data-plane commands named as az keyvault's"}
	sd := &cobra.Command{Use: "security-domain", Short: "Activate an HSM (download its security domain) or recover one (upload it)"}
	sd.AddCommand(sdDownloadCmd(), sdInitRecoveryCmd(), sdRestoreBlobCmd(), sdUploadCmd(), sdWaitCmd())
	kv.AddCommand(sd, keyvaultKeyCmd(), kvRoleCmd())         // keyvaultkey.go, kvrole.go
	kv.AddCommand(keyvaultHSMCmds()...)                      // keyvaulthsm.go: create, show, list, update, delete, purge …
	kv.AddCommand(keyvaultBackupCmd(), keyvaultRestoreCmd()) // keyvault_backup.go
	return kv
}

// sdPoll is how often and how many times wait polls (az: 5 s, 30 tries).
var sdPoll = struct {
	interval time.Duration
	tries    int
}{5 * time.Second, 30}

func sdDownloadCmd() *cobra.Command {
	var c dataConn
	var out output
	var certs []string
	var file string
	var quorum int
	var noWait bool
	cmd := &cobra.Command{
		Use:   "download",
		Short: "Download the HSM's security domain, encrypted to 3..10 officer certificates; the first download activates the HSM.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("--security-domain-file is required")
			}
			if _, err := os.Stat(file); err == nil {
				return fmt.Errorf("file named '%s' already exists", file)
			}
			if len(certs) < securitydomain.MinWrappingKeys || len(certs) > securitydomain.MaxWrappingKeys {
				return errors.New("the number of wrapping keys (N) should be in range [3, 10]")
			}
			if quorum < securitydomain.MinQuorum || quorum > securitydomain.MaxQuorum {
				return errors.New("the quorum of security domain (M) should be in range [2, 10]")
			}
			req := wire.CertificateInfo{Required: &quorum}
			for _, p := range certs {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				cert, err := securitydomain.ParseCertificatePEM(b)
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				j, err := securitydomain.WrappingKeyJWK(cert)
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				req.Certificates = append(req.Certificates, j)
			}
			ctx := cmd.Context()
			if err := c.open(ctx); err != nil {
				return err
			}
			p := newProgress(cmd, "security domain download")
			p.Update("the HSM is encrypting its security domain to %d certificates", len(certs))
			var sd wire.SecurityDomainObject
			if _, err := c.do(ctx, "POST", "/securitydomain/download", req, &sd); err != nil {
				p.Done("")
				return err
			}
			if err := writeNew(file, []byte(sd.Value)); err != nil {
				p.Done("")
				return err
			}
			if noWait {
				p.Done("written to " + file)
				return nil
			}
			return printStatus(cmd, &out, waitStatus(ctx, &c, "download", p))
		},
	}
	c.flags(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&certs, "sd-wrapping-keys", nil, "3 to 10 PEM certificates of the officers' RSA keys (space- or comma-separated)")
	f.IntVar(&quorum, "sd-quorum", 0, "how many officers' private keys recovery needs (2..10)")
	f.StringVar(&file, "security-domain-file", "", "file to write the security domain to (must not exist)")
	f.BoolVar(&noWait, "no-wait", false, "do not wait for the download to complete")
	out.bind(cmd)
	return cmd
}

func sdInitRecoveryCmd() *cobra.Command {
	var c dataConn
	var exchange string
	cmd := &cobra.Command{
		Use:   "init-recovery",
		Short: "Get the transfer (exchange) key of an HSM that is not activated, as a PEM certificate.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if exchange == "" {
				return errors.New("--sd-exchange-key is required")
			}
			if _, err := os.Stat(exchange); err == nil {
				return fmt.Errorf("file named '%s' already exists", exchange)
			}
			ctx := cmd.Context()
			if err := c.open(ctx); err != nil {
				return err
			}
			var tk struct {
				KeyFormat   string          `json:"key_format"`
				TransferKey json.RawMessage `json:"transfer_key"`
			}
			if _, err := c.do(ctx, "GET", "/securitydomain/upload", nil, &tk); err != nil {
				return err
			}
			cert, err := securitydomain.ParseTransferKey(tk.TransferKey)
			if err != nil {
				return err
			}
			return writeNew(exchange, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&exchange, "sd-exchange-key", "", "file to write the transfer key certificate to (must not exist)")
	return cmd
}

// restoreBlobFlags are the inputs of restore-blob and upload.
type restoreBlobFlags struct {
	sdFile, exchange string
	keys, passwords  []string
}

func (r *restoreBlobFlags) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.sdFile, "sd-file", "", "the security domain file (with upload --restore-blob: a restore blob)")
	f.StringVar(&r.exchange, "sd-exchange-key", "", "the HSM's transfer key certificate, from init-recovery")
	f.StringSliceVar(&r.keys, "sd-wrapping-keys", nil, "a quorum of officers' PEM private keys; k.pem's certificate k.cer is used when present")
	f.StringSliceVar(&r.passwords, "passwords", nil, "passwords of encrypted private keys, in the order of --sd-wrapping-keys")
}

// build makes the restore blob offline, as az's restore-blob does.
func (r *restoreBlobFlags) build() ([]byte, error) {
	if r.sdFile == "" || r.exchange == "" || len(r.keys) == 0 {
		return nil, errors.New("--sd-file, --sd-exchange-key and --sd-wrapping-keys are required")
	}
	file, err := os.ReadFile(r.sdFile)
	if err != nil {
		return nil, err
	}
	sd, err := securitydomain.ParseFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.sdFile, err)
	}
	if len(r.keys) < sd.SharedKeys.Required {
		return nil, fmt.Errorf("length of --sd-wrapping-keys list should not be less than %d for decrypting this SD file", sd.SharedKeys.Required)
	}
	exb, err := os.ReadFile(r.exchange)
	if err != nil {
		return nil, err
	}
	exchange, err := securitydomain.ParseCertificatePEM(exb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.exchange, err)
	}
	var officers []securitydomain.Officer
	for i, p := range r.keys {
		kb, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var pw []byte
		if i < len(r.passwords) {
			pw = []byte(r.passwords[i])
		}
		key, err := securitydomain.ParsePrivateKeyPEM(kb, pw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		o := securitydomain.Officer{Key: key}
		certPath := strings.TrimSuffix(p, ext(p)) + ".cer"
		if cb, err := os.ReadFile(certPath); err == nil {
			if o.Cert, err = securitydomain.ParseCertificatePEM(cb); err != nil {
				return nil, fmt.Errorf("%s: %w", certPath, err)
			}
			if pk, ok := o.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(&key.PublicKey) {
				return nil, fmt.Errorf("%s is not the certificate of %s", certPath, p)
			}
		}
		officers = append(officers, o)
	}
	return securitydomain.MakeRestoreBlob(file, officers, exchange)
}

func ext(p string) string {
	if i := strings.LastIndexByte(p, '.'); i > strings.LastIndexByte(p, '/') {
		return p[i:]
	}
	return ""
}

func sdRestoreBlobCmd() *cobra.Command {
	var r restoreBlobFlags
	var out string
	cmd := &cobra.Command{
		Use:   "restore-blob",
		Short: "Offline: rebuild the security domain from a quorum of officers' keys and wrap it to an HSM's transfer key.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--sd-file-restore-blob is required")
			}
			blob, err := r.build()
			if err != nil {
				return err
			}
			return writeNew(out, blob)
		},
	}
	r.bind(cmd)
	cmd.Flags().StringVar(&out, "sd-file-restore-blob", "", "file to write the restore blob to (must not exist)")
	return cmd
}

func sdUploadCmd() *cobra.Command {
	var c dataConn
	var out output
	var r restoreBlobFlags
	var isBlob, noWait bool
	cmd := &cobra.Command{
		Use:   "upload",
		Short: "Recover an HSM that is not activated from its security domain (or a restore blob made offline).",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var blob []byte
			var err error
			if isBlob {
				if blob, err = os.ReadFile(r.sdFile); err == nil && len(blob) == 0 {
					err = errors.New("empty restore blob")
				}
			} else {
				blob, err = r.build()
			}
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := c.open(ctx); err != nil {
				return err
			}
			p := newProgress(cmd, "security domain upload")
			p.Update("sending %d bytes", len(blob))
			if _, err := c.do(ctx, "POST", "/securitydomain/upload", wire.SecurityDomainObject{Value: string(blob)}, nil); err != nil {
				p.Done("")
				return err
			}
			if noWait {
				p.Done("sent")
				return nil
			}
			return printStatus(cmd, &out, waitStatus(ctx, &c, "upload", p))
		},
	}
	c.flags(cmd)
	r.bind(cmd)
	cmd.Flags().BoolVar(&isBlob, "restore-blob", false, "--sd-file is a restore blob made by restore-blob")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "do not wait for the upload to complete")
	out.bind(cmd)
	return cmd
}

func sdWaitCmd() *cobra.Command {
	var c dataConn
	var out output
	var op string
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Wait until the HSM's security domain download or upload is over.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if op != "upload" && op != "download" {
				return errors.New("--target-operation is upload or download")
			}
			if err := c.open(cmd.Context()); err != nil {
				return err
			}
			return printStatus(cmd, &out, waitStatus(cmd.Context(), &c, op, newProgress(cmd, "security domain "+op)))
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&op, "target-operation", "upload", "upload or download")
	out.bind(cmd)
	return cmd
}

type statusResult struct {
	st  *wire.SecurityDomainOperationStatus
	err error
}

// waitStatus polls /securitydomain/<op>/pending until Success, Succeeded
// or Failed.
func waitStatus(ctx context.Context, c *dataConn, op string, p *progress) statusResult {
	r := pollStatus(ctx, c, op, p)
	switch {
	case r.err != nil:
		p.Done("")
	default:
		p.Done("done")
	}
	return r
}

func pollStatus(ctx context.Context, c *dataConn, op string, p *progress) statusResult {
	var last error
	for try := 0; try < sdPoll.tries; try++ {
		p.Update("waiting for the HSM (check %d of %d)", try+1, sdPoll.tries)
		var st wire.SecurityDomainOperationStatus
		_, err := c.do(ctx, "GET", "/securitydomain/"+op+"/pending", nil, &st)
		if err == nil {
			switch st.Status {
			case "Success", "Succeeded":
				return statusResult{st: &st}
			case "Failed":
				return statusResult{st: &st, err: fmt.Errorf("security domain %s failed: %s", op, st.StatusDetails)}
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return statusResult{err: ctx.Err()}
		case <-time.After(sdPoll.interval):
		}
	}
	if last == nil {
		last = errors.New("still in progress")
	}
	return statusResult{err: fmt.Errorf("security domain %s did not complete: %w", op, last)}
}

func printStatus(cmd *cobra.Command, out *output, r statusResult) error {
	if r.st != nil {
		if err := out.print(cmd.OutOrStdout(), r.st); err != nil {
			return err
		}
	}
	return r.err
}

// writeNew writes a file that must not exist yet, readable by its owner only.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
