package hsm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mhsm/mhsm/internal/backup"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Full and selective restore. Both are all-or-nothing:
//
//   - A full restore reads and verifies the whole archive (package backup
//     checks every part against the sealed manifest) while staging its
//     records in the store under backupstage/<hsm>/<job>/, in batches, away
//     from the live HSM. Only when the last record was read and every count
//     and digest matched does one store transaction delete the HSM's live
//     records (backupPrefixes) and move the staged ones in. Any failure
//     before that deletes the staging area and leaves the HSM untouched.
//   - A selective restore verifies the whole archive the same way while
//     keeping only the records of the one key (at most MaxVersions + 1),
//     then replaces that key, with all its versions, in one transaction.

func stagePrefix(hsm, job string) string { return "backupstage/" + hsm + "/" + job + "/" }

// stageBatchBytes bounds the records staged per store transaction.
const stageBatchBytes = 4 << 20

// restoreFolder checks a restore request's folder.
func restoreFolder(folder string) (string, error) {
	if folder == "" {
		return "", badRequest("The backup folder (folderToRestore, or folder for a selective restore) is required.")
	}
	if err := backup.CheckFolderName(folder); err != nil {
		return "", badRequest("%s", publicStorageError(err))
	}
	return folder, nil
}

// StartRestore starts a full restore of h from folder of the container p
// names; with check set (PUT /prerestore) it only verifies the backup.
func (s *Service) StartRestore(ctx context.Context, h *HSM, p *wire.SASTokenParameter, folder string, check bool) (*wire.BackupOperation, error) {
	if _, err := restoreFolder(folder); err != nil {
		return nil, err
	}
	c, err := s.openStorage(p)
	if err != nil {
		return nil, err
	}
	return s.startJob(ctx, h, "restore", p.StorageResourceURI, folder, func(ctx context.Context, j *jobRecord) (string, error) {
		if check {
			m, err := s.VerifyBackup(ctx, h, c.Folder(folder))
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("Pre restore check succeeded: the backup holds %d records in %d parts and opens with this HSM's security domain.", m.Records, len(m.Parts)), nil
		}
		m, err := s.RestoreBackup(ctx, h, c.Folder(folder), j.ID)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("Restored %d keys (%d soft-deleted) with %d versions, %d role assignments, %d role definitions and %d settings.",
			m.Counts[kindKey]+m.Counts[kindDeletedKey], m.Counts[kindDeletedKey], m.Counts[kindVersion], m.Counts[kindRoleAssignment],
			m.Counts[kindRoleDefinition], m.Counts[kindSetting]), nil
	})
}

// StartKeyRestore starts a selective restore of key name from folder.
func (s *Service) StartKeyRestore(ctx context.Context, h *HSM, name string, p *wire.SASTokenParameter, folder string) (*wire.BackupOperation, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, err := restoreFolder(folder); err != nil {
		return nil, err
	}
	c, err := s.openStorage(p)
	if err != nil {
		return nil, err
	}
	return s.startJob(ctx, h, "restore", p.StorageResourceURI, folder, func(ctx context.Context, j *jobRecord) (string, error) {
		n, err := s.RestoreBackupKey(ctx, h, c.Folder(folder), name)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("Number of successful key versions restored: %d, Number of key versions could not overwrite: 0", n), nil
	})
}

func (s *Service) openArchive(ctx context.Context, h *HSM, f backup.Folder) (*backup.Reader, error) {
	root := h.dk.Raw()
	defer clear(root)
	return backup.Open(ctx, f, root)
}

// checkRecord refuses a record a backup of this server never holds.
func checkRecord(key string, value []byte) error {
	for _, p := range backupPrefixes {
		if rest, ok := strings.CutPrefix(key, p); ok && rest != "" && !strings.Contains(rest, "//") && json.Valid(value) {
			return nil
		}
	}
	return fmt.Errorf("%w: it holds a record this server never backs up", backup.ErrCorrupt)
}

// VerifyBackup reads and checks the whole archive in f without changing
// anything.
func (s *Service) VerifyBackup(ctx context.Context, h *HSM, f backup.Folder) (*backup.Manifest, error) {
	r, err := s.openArchive(ctx, h, f)
	if err != nil {
		return nil, err
	}
	if err := r.Each(ctx, func(_, key string, value []byte) error { return checkRecord(key, value) }); err != nil {
		return nil, err
	}
	m := r.Manifest()
	return &m, nil
}

// RestoreBackup replaces every record of h under backupPrefixes with the
// archive's, all or nothing; job names the staging area.
func (s *Service) RestoreBackup(ctx context.Context, h *HSM, f backup.Folder, job string) (*backup.Manifest, error) {
	r, err := s.openArchive(ctx, h, f)
	if err != nil {
		return nil, err
	}
	stage := stagePrefix(h.Name, job)
	defer s.dropStage(stage)
	var batch []store.KV
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.st.Update(ctx, func(tx store.Tx) error {
			for _, kv := range batch {
				if err := tx.Put(stage+kv.Key, kv.Value); err != nil {
					return err
				}
			}
			return nil
		})
		batch, size = batch[:0], 0
		return err
	}
	err = r.Each(ctx, func(_, key string, value []byte) error {
		if err := checkRecord(key, value); err != nil {
			return err
		}
		batch = append(batch, store.KV{Key: key, Value: bytes.Clone(value)})
		if size += len(key) + len(value); size >= stageBatchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	if err := s.commitStage(ctx, h.Name, stage); err != nil {
		return nil, err
	}
	if err := s.afterRestore(ctx, h.Name); err != nil {
		return nil, err
	}
	m := r.Manifest()
	return &m, nil
}

// commitStage swaps the staged records in for the live ones in one
// transaction.
func (s *Service) commitStage(ctx context.Context, hsm, stage string) error {
	prefix := hsmDataPrefix(hsm)
	return s.st.Update(ctx, func(tx store.Tx) error {
		for _, sub := range backupPrefixes {
			if err := deleteAll(tx, prefix+sub); err != nil {
				return err
			}
		}
		after := ""
		for {
			kvs, err := tx.List(stage, after, backupPageSize)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				if err := tx.Put(prefix+strings.TrimPrefix(kv.Key, stage), kv.Value); err != nil {
					return err
				}
			}
			if len(kvs) < backupPageSize {
				return nil
			}
			after = kvs[len(kvs)-1].Key
		}
	})
}

// deleteAll deletes every key under prefix, a page at a time.
func deleteAll(tx store.Tx, prefix string) error {
	for {
		kvs, err := tx.List(prefix, "", backupPageSize)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if err := tx.Delete(kv.Key); err != nil {
				return err
			}
		}
		if len(kvs) < backupPageSize {
			return nil
		}
	}
}

// dropStage deletes a staging area, a batch per transaction.
func (s *Service) dropStage(stage string) {
	ctx := context.Background()
	for {
		n := 0
		err := s.st.Update(ctx, func(tx store.Tx) error {
			kvs, err := tx.List(stage, "", 4*backupPageSize)
			n = len(kvs)
			for _, kv := range kvs {
				if err := tx.Delete(kv.Key); err != nil {
					return err
				}
			}
			return err
		})
		if err != nil || n < 4*backupPageSize {
			return
		}
	}
}

// afterRestore drops every cached record and material of the HSM and
// recompiles its RBAC policy from the restored assignments.
func (s *Service) afterRestore(ctx context.Context, hsm string) error {
	s.forgetHSM(hsm)
	cur, ok := s.Get(hsm)
	if !ok {
		return hsmNotFound(hsm)
	}
	return s.reloadPolicy(ctx, cur)
}

// RestoreBackupKey restores key name, with all its versions, from the
// archive in f, replacing the key of that name if h holds one, and returns
// how many versions it restored. Nothing else changes.
func (s *Service) RestoreBackupKey(ctx context.Context, h *HSM, f backup.Folder, name string) (int, error) {
	r, err := s.openArchive(ctx, h, f)
	if err != nil {
		return 0, err
	}
	lname := strings.ToLower(name)
	keyRel, verRel := "key/"+lname, "ver/"+lname+"/"
	var rec []byte
	var vers []store.KV
	err = r.Each(ctx, func(_, key string, value []byte) error {
		if err := checkRecord(key, value); err != nil {
			return err
		}
		switch {
		case key == keyRel:
			rec = bytes.Clone(value)
		case strings.HasPrefix(key, verRel):
			if len(vers) >= MaxVersions {
				return fmt.Errorf("%w: key %s has more than %d versions", backup.ErrCorrupt, name, MaxVersions)
			}
			vers = append(vers, store.KV{Key: key, Value: bytes.Clone(value)})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if rec == nil || len(vers) == 0 {
		return 0, notFound("KeyNotFound", "The backup holds no key named %s.", name)
	}
	prefix := hsmDataPrefix(h.Name)
	err = s.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Get(keyKey(h.Name, lname))
		existed := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := deleteAll(tx, verPrefix(h.Name, lname)); err != nil {
			return err
		}
		if err := tx.Put(prefix+keyRel, rec); err != nil {
			return err
		}
		for _, kv := range vers {
			if err := tx.Put(prefix+kv.Key, kv.Value); err != nil {
				return err
			}
		}
		if !existed {
			return addKeyCount(tx, h.Name, 1)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.forgetHSM(h.Name)
	return len(vers), nil
}
