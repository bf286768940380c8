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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/mhsm/mhsm/internal/audit"
)

// ErrNotFound is returned by Folder.Get for a missing blob.
var ErrNotFound = errors.New("backup: blob not found")

// ErrStorage wraps every failure to resolve a storage URI or credential;
// its text is safe to show callers.
var ErrStorage = errors.New("storage")

func storageErr(format string, a ...any) error {
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

// Accounts is the storage-account mapping of the server configuration, the
// same one audit delivery uses (config.Audit: StorageRoot and
// Destinations): an account named in Named goes where its destination
// says (a local directory, or an Azure Storage account reached through
// azblob), and any other account A is the directory Root/A.
type Accounts struct {
	Named map[string]audit.Destination
	Root  string
}

var _ Storage = Accounts{}

var (
	accountRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	containerRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	folderRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$`)
)

// ServiceError describes an error the storage service answered with (its
// HTTP status and error code, never the request URL and so never a SAS),
// or reports false when err is not one.
func ServiceError(err error) (string, bool) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return "", false
	}
	return fmt.Sprintf("The storage service answered %d %s.", re.StatusCode, re.ErrorCode), true
}

// CheckFolderName reports whether name can be a backup folder name (letters,
// digits, '.', '_' and '-', at most 200, starting with a letter or digit).
func CheckFolderName(name string) error {
	if !folderRe.MatchString(name) {
		return storageErr("%q is not a backup folder name (like mhsm-<hsm>-<time>)", name)
	}
	return nil
}

// ParseContainerURI splits a container URI into account and container.
func ParseContainerURI(uri string) (account, cont string, err error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return "", "", storageErr("storageResourceUri must be https://<account>.blob.core.windows.net/<container> (without a SAS)")
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch len(segs) {
	case 1: // https://<account>.blob.…/<container>
		account, _, _ = strings.Cut(u.Hostname(), ".")
		cont = segs[0]
	case 2: // path style: http://127.0.0.1:10000/<account>/<container>
		account, cont = segs[0], segs[1]
	default:
		return "", "", storageErr("storageResourceUri must name a blob container, not a folder or blob")
	}
	account = strings.ToLower(account)
	if !accountRe.MatchString(account) || !containerRe.MatchString(cont) || strings.Contains(cont, "--") {
		return "", "", storageErr("storageResourceUri names an invalid storage account or container")
	}
	return account, cont, nil
}

// Open implements Storage.
func (a Accounts) Open(uri string, c Credential) (Container, error) {
	account, cont, err := ParseContainerURI(uri)
	if err != nil {
		return nil, err
	}
	if c.SAS == "" && !c.ManagedIdentity {
		return nil, storageErr("give a SAS token or useManagedIdentity: true")
	}
	dst, ok := a.Named[account]
	if !ok {
		if a.Root == "" {
			return nil, storageErr("storage account %s is not configured on this server", account)
		}
		dst = audit.LocalDir(filepath.Join(a.Root, account))
	}
	switch d := dst.(type) {
	case audit.LocalDir:
		return Dir(filepath.Join(string(d), cont)), nil
	case *audit.Blob:
		return openBlob(d, account, cont, c)
	}
	return nil, storageErr("storage account %s has a destination backup cannot use", account)
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
		return "", storageErr("invalid folder or blob name")
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
	return readLimited(fh, limit, name)
}

func readLimited(r io.Reader, limit int, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, corrupt("%s is larger than any blob a backup writes", name)
	}
	return b, nil
}

// Blob is a container of Azure Blob Storage (or Azurite).
type Blob struct {
	c    *container.Client
	desc string
}

var _ Container = (*Blob)(nil)

// openBlob reaches container cont of the account behind d: with the
// request's SAS when there is one, else with the account's configured
// shared key (the server's own identity, Azure's managed identity).
func openBlob(d *audit.Blob, account, cont string, c Credential) (*Blob, error) {
	base, key := d.Account()
	u := strings.TrimRight(base, "/") + "/" + cont
	var (
		cc  *container.Client
		err error
	)
	switch {
	case c.SAS != "" && !c.ManagedIdentity:
		cc, err = container.NewClientWithNoCredential(u+"?"+strings.TrimPrefix(c.SAS, "?"), nil)
	case key != nil:
		cc, err = container.NewClientWithSharedKeyCredential(u, key, nil)
	default:
		return nil, storageErr("storage account %s has no server credential configured (account-key-env), so useManagedIdentity cannot be used", account)
	}
	if err != nil {
		return nil, storageErr("storage account %s: %v", account, err)
	}
	return &Blob{c: cc, desc: u}, nil
}

// Folder implements Container.
func (b *Blob) Folder(name string) Folder { return blobFolder{b: b, name: name} }

func (b *Blob) String() string { return "azblob:" + b.desc }

type blobFolder struct {
	b    *Blob
	name string
}

func (f blobFolder) blob(name string) (string, error) {
	if !folderRe.MatchString(f.name) || !folderRe.MatchString(name) {
		return "", storageErr("invalid folder or blob name")
	}
	return f.name + "/" + name, nil
}

// Put uploads a block blob, creating the container when it is missing.
func (f blobFolder) Put(ctx context.Context, name string, data []byte) error {
	bn, err := f.blob(name)
	if err != nil {
		return err
	}
	bb := f.b.c.NewBlockBlobClient(bn)
	for attempt := 0; ; attempt++ {
		_, err := bb.UploadBuffer(ctx, data, nil)
		if err == nil || attempt > 0 || !bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return err
		}
		if _, err := f.b.c.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return err
		}
	}
}

// Get downloads a blob.
func (f blobFolder) Get(ctx context.Context, name string, limit int) ([]byte, error) {
	bn, err := f.blob(name)
	if err != nil {
		return nil, err
	}
	resp, err := f.b.c.NewBlobClient(bn).DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readLimited(resp.Body, limit, name)
}
