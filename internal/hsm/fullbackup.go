package hsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/mhsm/mhsm/internal/backup"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Full HSM backup, full restore and selective key restore (Azure's
// /backup, /restore, /keys/{name}/restore), as long-running jobs.
//
// A backup is every record the HSM keeps under backupPrefixes — keys with
// their rotation policies (soft-deleted ones included), every version with
// its attributes, tags, release policy and sealed material, role
// definitions and assignments, settings and the key count — read in one
// store snapshot and streamed into a package backup archive sealed under
// a key derived from the HSM's security-domain root (its key-hierarchy
// root), so only this HSM or one recovered from the same security domain
// restores it. Key material stays sealed by that root inside the archive
// too (materialAAD does not name the HSM).
//
// Jobs run one at a time per HSM (a second start is a 409) in the
// background; their status is kept in the store under hsm/<name>/job/<id>,
// so a client may poll long after completion and across restarts. A job
// interrupted by a restart stays InProgress (restore commits nothing until
// its last step, see fullrestore.go).

// backupPrefixes are the record families a full backup holds and a full
// restore replaces, relative to hsmDataPrefix. Jobs (job/) and security
// domain state (sd/) are not part of a backup.
var backupPrefixes = []string{"key/", "ver/", "ra/", "rd/", "setting/", "meta/"}

// backupPageSize is how many records one store List returns while backing
// up or restoring.
const backupPageSize = 256

// backupPartBytes, when set, overrides backup.ChunkBytes (tests).
var backupPartBytes int

// jobTimeout bounds one backup or restore job.
const jobTimeout = time.Hour

func jobKey(hsm, id string) string { return "hsm/" + hsm + "/job/" + id }

// jobRecord is a job as stored.
type jobRecord struct {
	ID           string `json:"id"`
	Op           string `json:"op"` // "backup" or "restore"
	Status       string `json:"status"`
	Details      string `json:"details,omitempty"`
	ErrCode      string `json:"errCode,omitempty"`
	ErrMessage   string `json:"errMessage,omitempty"`
	Start        int64  `json:"start"`
	End          int64  `json:"end,omitempty"`
	ContainerURI string `json:"containerUri"`
	Folder       string `json:"folder"`
}

func (j *jobRecord) wire() *wire.BackupOperation {
	out := &wire.BackupOperation{Status: j.Status, StartTime: j.Start, JobID: j.ID, FolderName: j.Folder}
	if j.Details != "" {
		d := j.Details
		out.StatusDetails = &d
	}
	if j.End != 0 {
		e := j.End
		out.EndTime = &e
	}
	if j.ErrCode != "" {
		out.Error = &wire.ErrorDetail{Code: j.ErrCode, Message: j.ErrMessage}
	}
	if j.Op == "backup" && j.Status == wire.JobSucceeded {
		u := strings.TrimRight(j.ContainerURI, "/") + "/" + j.Folder
		out.AzureStorageBlobContainerURI = &u
	}
	return out
}

// openStorage resolves the container a request names.
func (s *Service) openStorage(p *wire.SASTokenParameter) (backup.Container, error) {
	if p == nil || p.StorageResourceURI == "" {
		return nil, badRequest("storageResourceUri is required.")
	}
	mi := p.UseManagedIdentity != nil && *p.UseManagedIdentity
	if p.Token == "" && !mi {
		return nil, badRequest("Give either a SAS token (token) or useManagedIdentity: true.")
	}
	if s.backups == nil {
		return nil, badRequest("This server has no backup storage configured.")
	}
	c, err := s.backups.Open(p.StorageResourceURI, backup.Credential{SAS: p.Token, ManagedIdentity: mi})
	if err != nil {
		return nil, badRequest("%s", publicStorageError(err))
	}
	return c, nil
}

// startJob claims h's one job slot, stores the job as InProgress and runs
// run in the background; run's result ends the job (details on success).
func (s *Service) startJob(ctx context.Context, h *HSM, op, containerURI, folder string, run func(context.Context, *jobRecord) (string, error)) (*wire.BackupOperation, error) {
	s.jobsMu.Lock()
	if s.activeJobs == nil {
		s.activeJobs = map[string]string{}
	}
	if id, busy := s.activeJobs[h.Name]; busy {
		s.jobsMu.Unlock()
		return nil, &Error{Kind: KindConflict, Code: "Conflict",
			Message: fmt.Sprintf("A backup or restore (job %s) is already running on managed HSM %s; only one runs at a time. Wait for it to finish.", id, h.Name)}
	}
	j := &jobRecord{ID: strings.ReplaceAll(newGUID(), "-", ""), Op: op, Status: wire.JobInProgress, Start: s.now().Unix(),
		ContainerURI: containerURI, Folder: folder}
	s.activeJobs[h.Name] = j.ID
	s.jobsMu.Unlock()
	if err := s.st.Update(ctx, func(tx store.Tx) error { return putJSON(tx, jobKey(h.Name, j.ID), j) }); err != nil {
		s.releaseJob(h.Name)
		return nil, err
	}
	out := j.wire()
	go func() {
		defer s.releaseJob(h.Name)
		jctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
		defer cancel()
		details, err := run(jctx, j)
		j.End = s.now().Unix()
		if err != nil {
			j.Status, j.ErrCode, j.ErrMessage = wire.JobFailed, jobErrorCode(err), publicJobError(err)
			slog.Warn("backup job failed", "hsm", h.Name, "job", j.ID, "op", op, "err", j.ErrMessage)
		} else {
			j.Status, j.Details = wire.JobSucceeded, details
		}
		// Not jctx: a job that ran out of time still records that it failed.
		if err := s.st.Update(context.Background(), func(tx store.Tx) error { return putJSON(tx, jobKey(h.Name, j.ID), j) }); err != nil {
			slog.Error("record backup job status", "hsm", h.Name, "job", j.ID, "err", err)
		}
	}()
	return out, nil
}

func (s *Service) releaseJob(hsm string) {
	s.jobsMu.Lock()
	delete(s.activeJobs, hsm)
	s.jobsMu.Unlock()
}

// JobStatus answers GET /backup/{id}/pending (op "backup") and
// /restore/{id}/pending (op "restore").
func (s *Service) JobStatus(ctx context.Context, h *HSM, op, id string) (*wire.BackupOperation, error) {
	var j jobRecord
	id = strings.ToLower(id)
	err := s.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, jobKey(h.Name, id), &j) })
	if errors.Is(err, store.ErrNotFound) || (err == nil && j.Op != op) {
		return nil, notFound("NotFound", "No %s job %s exists on managed HSM %s.", op, id, h.Name)
	}
	if err != nil {
		return nil, err
	}
	return j.wire(), nil
}

// backupFolder is Azure's folder name: mhsm-<hsm>-<YYYYMMDDhhmmss><cc>.
func backupFolder(hsm string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("mhsm-%s-%s%02d", hsm, t.Format("20060102150405"), t.Nanosecond()/1e7)
}

// StartBackup starts a full backup of h into the container p names.
func (s *Service) StartBackup(ctx context.Context, h *HSM, p *wire.SASTokenParameter) (*wire.BackupOperation, error) {
	c, err := s.openStorage(p)
	if err != nil {
		return nil, err
	}
	folder := backupFolder(h.Name, s.now())
	return s.startJob(ctx, h, "backup", p.StorageResourceURI, folder, func(ctx context.Context, j *jobRecord) (string, error) {
		m, err := s.WriteBackup(ctx, h, c.Folder(folder))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("Backed up %d keys (%d soft-deleted) with %d versions, %d role assignments, %d role definitions and %d settings in %d parts.",
			m.Counts[kindKey]+m.Counts[kindDeletedKey], m.Counts[kindDeletedKey], m.Counts[kindVersion], m.Counts[kindRoleAssignment],
			m.Counts[kindRoleDefinition], m.Counts[kindSetting], len(m.Parts)), nil
	})
}

// StartPreBackup checks that a backup into the container p names could
// run: the container is reachable with the credential given.
func (s *Service) StartPreBackup(ctx context.Context, h *HSM, p *wire.SASTokenParameter) (*wire.BackupOperation, error) {
	c, err := s.openStorage(p)
	if err != nil {
		return nil, err
	}
	return s.startJob(ctx, h, "backup", p.StorageResourceURI, "", func(ctx context.Context, j *jobRecord) (string, error) {
		_, err := c.Folder("mhsm-prebackup-check").Get(ctx, "absent", 1)
		if err != nil && !errors.Is(err, backup.ErrNotFound) {
			return "", err
		}
		return "Pre full backup check succeeded: the storage container is reachable.", nil
	})
}

// Record kinds in an archive (and their counts in its manifest).
const (
	kindKey            = "key"
	kindDeletedKey     = "deletedKey"
	kindVersion        = "version"
	kindRoleAssignment = "roleAssignment"
	kindRoleDefinition = "roleDefinition"
	kindSetting        = "setting"
	kindMeta           = "meta"
)

var kindOfPrefix = map[string]string{"key/": kindKey, "ver/": kindVersion, "ra/": kindRoleAssignment,
	"rd/": kindRoleDefinition, "setting/": kindSetting, "meta/": kindMeta}

// WriteBackup writes every record of h under backupPrefixes, from one
// store snapshot, into an archive in f, and returns its manifest. Memory
// is bounded by one part and one store page.
func (s *Service) WriteBackup(ctx context.Context, h *HSM, f backup.Folder) (*backup.Manifest, error) {
	root := h.dk.Raw()
	defer clear(root)
	w, err := backup.NewWriter(f, root, h.Name, s.now())
	if err != nil {
		return nil, err
	}
	w.PartBytes = backupPartBytes
	prefix := hsmDataPrefix(h.Name)
	err = s.st.View(ctx, func(tx store.Tx) error {
		for _, sub := range backupPrefixes {
			after := ""
			for {
				kvs, err := tx.List(prefix+sub, after, backupPageSize)
				if err != nil {
					return err
				}
				for _, kv := range kvs {
					kind := kindOfPrefix[sub]
					if kind == kindKey && isDeletedKey(kv.Value) {
						kind = kindDeletedKey
					}
					if err := w.Add(ctx, kind, strings.TrimPrefix(kv.Key, prefix), kv.Value); err != nil {
						return err
					}
				}
				if len(kvs) < backupPageSize {
					break
				}
				after = kvs[len(kvs)-1].Key
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w.Close(ctx)
}

func isDeletedKey(raw []byte) bool {
	var k struct {
		Deleted *deletion `json:"deleted"`
	}
	return json.Unmarshal(raw, &k) == nil && k.Deleted != nil
}

// jobErrorCode is the Azure error code of a failed job.
func jobErrorCode(err error) string {
	switch {
	case errors.Is(err, backup.ErrForeign), errors.Is(err, backup.ErrCorrupt), errors.Is(err, backup.ErrNoBackup):
		return "InvalidBackup"
	case errors.Is(err, backup.ErrStorage):
		return "StorageError"
	}
	if he, ok := AsError(err); ok {
		return he.Code
	}
	var se *backup.ServiceError
	if errors.As(err, &se) {
		return "StorageError"
	}
	return "InternalError"
}

// publicJobError is the message of a failed job: never a SAS, a key or an
// internal detail.
func publicJobError(err error) string {
	if he, ok := AsError(err); ok {
		return he.Message
	}
	return publicStorageError(err)
}

var sasInText = regexp.MustCompile(`\?[^\s"']*`)

// publicStorageError describes a storage or archive error for callers.
func publicStorageError(err error) string {
	var se *backup.ServiceError
	if errors.As(err, &se) {
		return se.Error()
	}
	switch {
	case errors.Is(err, backup.ErrForeign), errors.Is(err, backup.ErrCorrupt), errors.Is(err, backup.ErrNoBackup), errors.Is(err, backup.ErrStorage):
		return sasInText.ReplaceAllString(err.Error(), "?…")
	case errors.Is(err, context.DeadlineExceeded):
		return "The job did not finish in time."
	}
	slog.Error("backup storage", "err", sasInText.ReplaceAllString(err.Error(), "?…"))
	return "The backup storage could not be read or written."
}

// recoverJobs runs at start-up: a job still InProgress in the store was
// cut short by a restart, so it is marked Failed (a full restore commits
// in one transaction, so the HSM is either wholly restored or untouched),
// and every staging area left by an interrupted restore is deleted.
func (s *Service) recoverJobs(ctx context.Context) error {
	now := s.now().Unix()
	for _, name := range s.List() {
		err := s.st.Update(ctx, func(tx store.Tx) error {
			kvs, err := tx.List("hsm/"+name+"/job/", "", 0)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				var j jobRecord
				if json.Unmarshal(kv.Value, &j) != nil || j.Status != wire.JobInProgress {
					continue
				}
				j.Status, j.End = wire.JobFailed, now
				j.ErrCode, j.ErrMessage = "Interrupted", "The server restarted while the job ran; start it again."
				if err := putJSON(tx, kv.Key, &j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.dropStage("backupstage/")
	return nil
}
