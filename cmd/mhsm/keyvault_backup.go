package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mhsm/mhsm/internal/wire"
)

// `mhsm keyvault backup …` and `mhsm keyvault restore …`: full HSM backup,
// full restore and selective key restore with az's names and flags
// (az keyvault backup start / az keyvault restore start). start waits for
// the job, showing its progress on a terminal, and prints the job's final
// status; --no-wait prints the job as started (its jobId) and returns;
// status reads a job later.

// jobPoll is how often a waiting command polls its job.
var jobPoll = time.Second

// storageFlags are the storage flags shared by backup and restore.
type storageFlags struct {
	account, container, containerURI, sas, managedIdentity string
}

func (s *storageFlags) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.account, "storage-account-name", "", "name of the storage account (with --blob-container-name)")
	f.StringVar(&s.container, "blob-container-name", "", "name of the blob container")
	f.StringVar(&s.containerURI, "blob-container-uri", "", "the container's URI, instead of the two names above")
	f.StringVar(&s.sas, "storage-container-SAS-token", "", "SAS token for the container (or use --use-managed-identity true)")
	f.StringVar(&s.managedIdentity, "use-managed-identity", "false", "true: the HSM reaches the container with its own identity, no SAS")
}

// params builds the request's SASTokenParameter.
func (s *storageFlags) params() (*wire.SASTokenParameter, error) {
	uri := s.containerURI
	switch {
	case uri != "" && (s.account != "" || s.container != ""):
		return nil, errors.New("give --blob-container-uri or --storage-account-name with --blob-container-name, not both")
	case uri == "" && (s.account == "" || s.container == ""):
		return nil, errors.New("--storage-account-name and --blob-container-name (or --blob-container-uri) are required")
	case uri == "":
		uri = "https://" + s.account + ".blob.core.windows.net/" + s.container
	}
	var mi bool
	switch strings.ToLower(s.managedIdentity) {
	case "true":
		mi = true
	case "false", "":
	default:
		return nil, fmt.Errorf("--use-managed-identity is true or false, not %q", s.managedIdentity)
	}
	if mi == (s.sas != "") {
		return nil, errors.New("give exactly one of --storage-container-SAS-token and --use-managed-identity true")
	}
	p := &wire.SASTokenParameter{StorageResourceURI: strings.TrimRight(uri, "/"), Token: s.sas}
	if mi {
		p.UseManagedIdentity = &mi
	}
	return p, nil
}

// jobRunner starts a job and follows it.
type jobRunner struct {
	c      dataConn
	out    output
	noWait bool
}

func (j *jobRunner) bind(cmd *cobra.Command) {
	j.c.flags(cmd)
	j.out.bind(cmd)
	cmd.Flags().BoolVar(&j.noWait, "no-wait", false, "print the started job (its jobId) and return without waiting")
}

// run sends the start request and, unless --no-wait, polls the job at
// /<kind>/<jobId>/pending until it ends. A failed or canceled job is an
// error after its status is printed.
func (j *jobRunner) run(cmd *cobra.Command, kind, method, path string, body any) error {
	ctx := cmd.Context()
	if err := j.c.open(ctx); err != nil {
		return err
	}
	var st wire.BackupOperation
	if _, err := j.c.do(ctx, method, path, body, &st); err != nil {
		return err
	}
	if !j.noWait {
		var err error
		if st, err = j.wait(ctx, newProgress(cmd, kind), kind, st); err != nil {
			return err
		}
	}
	if err := j.out.print(cmd.OutOrStdout(), st); err != nil {
		return err
	}
	return jobErr(kind, st)
}

func jobErr(kind string, st wire.BackupOperation) error {
	switch st.Status {
	case wire.JobFailed:
		msg := "no error given"
		if st.Error != nil {
			msg = st.Error.Code + ": " + st.Error.Message
		}
		return fmt.Errorf("%s job %s failed: %s", kind, st.JobID, msg)
	case wire.JobCanceled:
		return fmt.Errorf("%s job %s was canceled", kind, st.JobID)
	}
	return nil
}

// wait polls until the job leaves InProgress, showing its progress
// (progress.go: on a terminal only).
func (j *jobRunner) wait(ctx context.Context, p *progress, kind string, st wire.BackupOperation) (wire.BackupOperation, error) {
	for st.Status == wire.JobInProgress {
		p.Update("job %s %s", st.JobID, st.Status)
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(jobPoll):
		}
		if _, err := j.c.do(ctx, "GET", "/"+kind+"/"+st.JobID+"/pending", nil, &st); err != nil {
			p.Done("")
			return st, fmt.Errorf("%s job %s: %w", kind, st.JobID, err)
		}
	}
	p.Done(st.Status)
	return st, nil
}

func keyvaultBackupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Back up a whole HSM to blob storage, as az keyvault backup does."}
	var j jobRunner
	var s storageFlags
	start := &cobra.Command{
		Use:   "start",
		Short: "Back up every key, version, deleted key, role and setting of the HSM into a new folder of a blob container.",
		Example: `  # Back up with a container SAS and wait for the job
  mhsm keyvault backup start --hsm-name dev --storage-account-name contoso --blob-container-name backups --storage-container-SAS-token "$SAS"
  # Back up with the server's own credential for the account, and return at once
  mhsm keyvault backup start --hsm-name dev --storage-account-name contoso --blob-container-name backups --use-managed-identity true --no-wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := s.params()
			if err != nil {
				return err
			}
			return j.run(cmd, "backup", "POST", "/backup", p)
		},
	}
	j.bind(start)
	s.bind(start)
	cmd.AddCommand(start, jobStatusCmd("backup"))
	return cmd
}

func keyvaultRestoreCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "restore", Short: "Restore a whole HSM or one key from blob storage, as az keyvault restore does."}
	var j jobRunner
	var s storageFlags
	var folder, keyName string
	start := &cobra.Command{
		Use:   "start",
		Short: "Restore the whole HSM from a backup folder, or with --key-name one key with all its versions.",
		Example: `  # Restore everything a backup holds
  mhsm keyvault restore start --hsm-name dev --storage-account-name contoso --blob-container-name backups --storage-container-SAS-token "$SAS" --backup-folder mhsm-dev-2026120415040644
  # Restore one key with all its versions
  mhsm keyvault restore start --hsm-name dev --storage-account-name contoso --blob-container-name backups --storage-container-SAS-token "$SAS" --backup-folder mhsm-dev-2026120415040644 --key-name payments`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := s.params()
			if err != nil {
				return err
			}
			if folder == "" {
				return errors.New("--backup-folder is required (the folder name a backup printed, mhsm-<hsm>-<time>)")
			}
			if keyName != "" {
				body := wire.SelectiveKeyRestoreOperationParameters{SASTokenParameters: p, Folder: folder}
				return j.run(cmd, "restore", "PUT", "/keys/"+keyName+"/restore", body)
			}
			return j.run(cmd, "restore", "PUT", "/restore", wire.RestoreOperationParameters{SASTokenParameters: p, FolderToRestore: folder})
		},
	}
	j.bind(start)
	s.bind(start)
	f := start.Flags()
	f.StringVar(&folder, "backup-folder", "", "name of the backup folder in the container (mhsm-<hsm>-<time>)")
	f.StringVar(&keyName, "key-name", "", "restore only this key, with all its versions")
	cmd.AddCommand(start, jobStatusCmd("restore"))
	return cmd
}

// jobStatusCmd reads a job's status (for jobs started with --no-wait).
func jobStatusCmd(kind string) *cobra.Command {
	var c dataConn
	var out output
	var id string
	cmd := &cobra.Command{
		Use:     "status",
		Short:   "Show the status of a " + kind + " job.",
		Example: "  # Read a job started with --no-wait\n  mhsm keyvault " + kind + " status --hsm-name dev --job-id 11607e97f090457ea8c12762288838fa",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("--job-id is required")
			}
			ctx := cmd.Context()
			if err := c.open(ctx); err != nil {
				return err
			}
			var st wire.BackupOperation
			if _, err := c.do(ctx, "GET", "/"+kind+"/"+id+"/pending", nil, &st); err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), st)
		},
	}
	c.flags(cmd)
	out.bind(cmd)
	cmd.Flags().StringVar(&id, "job-id", "", "the job id a start printed")
	return cmd
}
