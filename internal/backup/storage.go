package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrNotFound is returned by Folder.Get for a missing blob.
var ErrNotFound = errors.New("backup: blob not found")

// ErrStorage wraps every failure to resolve a storage URI or credential;
// its text is safe to show callers.
var ErrStorage = errors.New("storage")

// StorageErr is an ErrStorage with a caller-safe message (for Storage
// implementations).
func StorageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrStorage, fmt.Sprintf(format, a...))
}

// Folder is one backup folder: named blobs written and read whole (parts
// are bounded by ChunkBytes, so "whole" is bounded too).
type Folder interface {
	// Put creates or replaces blob name with data.
	Put(ctx context.Context, name string, data []byte) error
	// Get returns blob name, ErrNotFound when it is missing, or an error
	// when it is larger than limit bytes.
	Get(ctx context.Context, name string, limit int) ([]byte, error)
}

// Container is a blob container (or the local directory standing in for
// one) holding backup folders.
type Container interface {
	// Folder returns the folder name of the container (not checked for
	// existence).
	Folder(name string) Folder
	// String describes the container without credentials.
	String() string
}

// Credential is how a request authorizes access to a container: a SAS
// token, or the server's own credential for the account (Azure's
// "useManagedIdentity").
type Credential struct {
	SAS             string
	ManagedIdentity bool
}

// Storage opens the container a backup or restore request names.
type Storage interface {
	// Open resolves uri (https://<account>.blob.core.windows.net/<container>,
	// or path style http(s)://host/<account>/<container>) with c. Errors
	// wrap ErrStorage.
	Open(uri string, c Credential) (Container, error)
}

var (
	accountRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	containerRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	folderRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$`)
)

// ServiceError is a storage service's refusal: its HTTP status and error
// code, never the request URL (so never a SAS). Storage implementations
// return it (wrapped or not) for every error response.
type ServiceError struct {
	Status int
	Code   string
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("The storage service answered %d %s.", e.Status, e.Code)
}

// CheckFolderName reports whether name can be a backup folder name (letters,
// digits, '.', '_' and '-', at most 200, starting with a letter or digit).
func CheckFolderName(name string) error {
	if !folderRe.MatchString(name) {
		return StorageErr("%q is not a backup folder name (like mhsm-<hsm>-<time>)", name)
	}
	return nil
}

// ParseContainerURI splits a container URI into account and container.
func ParseContainerURI(uri string) (account, cont string, err error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return "", "", StorageErr("storageResourceUri must be https://<account>.blob.core.windows.net/<container> (without a SAS)")
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch len(segs) {
	case 1: // https://<account>.blob.…/<container>
		account, _, _ = strings.Cut(u.Hostname(), ".")
		cont = segs[0]
	case 2: // path style: http://127.0.0.1:10000/<account>/<container>
		account, cont = segs[0], segs[1]
	default:
		return "", "", StorageErr("storageResourceUri must name a blob container, not a folder or blob")
	}
	account = strings.ToLower(account)
	if !accountRe.MatchString(account) || !containerRe.MatchString(cont) || strings.Contains(cont, "--") {
		return "", "", StorageErr("storageResourceUri names an invalid storage account or container")
	}
	return account, cont, nil
}

// Dir is a container kept as a local directory: folder F, blob B is the
// file Dir/F/B.
type Dir string

var _ Container = Dir("")

// Folder implements Container.
func (d Dir) Folder(name string) Folder { return dirFolder{dir: string(d), name: name} }

func (d Dir) String() string { return "local:" + string(d) }

type dirFolder struct{ dir, name string }

func (f dirFolder) path(blob string) (string, error) {
	if !folderRe.MatchString(f.name) || !folderRe.MatchString(blob) {
		return "", StorageErr("invalid folder or blob name")
	}
	return filepath.Join(f.dir, f.name, blob), nil
}

// Put writes a temporary file, syncs it and renames it into place.
func (f dirFolder) Put(_ context.Context, name string, data []byte) error {
	p, err := f.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	return err
}

// Get implements Folder.
func (f dirFolder) Get(_ context.Context, name string, limit int) ([]byte, error) {
	p, err := f.path(name)
	if err != nil {
		return nil, err
	}
	fh, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return ReadLimited(fh, limit, name)
}

// ReadLimited reads r whole, refusing more than limit bytes (for Folder
// implementations).
func ReadLimited(r io.Reader, limit int, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, corrupt("%s is larger than any blob a backup writes", name)
	}
	return b, nil
}
