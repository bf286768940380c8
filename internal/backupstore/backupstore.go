// Package backupstore is where full HSM backups are kept: the server's
// storage-account mapping (the one audit delivery uses) resolved to a local
// directory or to a container of Azure Blob Storage (Azurite included)
// reached through the azblob SDK. It implements package backup's Storage;
// package hsm sees only that interface, so the data-plane use cases stay
// free of HTTP. Read this file.
package backupstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/backup"
)

// Accounts is the storage-account mapping of the server configuration, the
// same one audit delivery uses (config.Audit: StorageRoot and
// Destinations): an account named in Named goes where its destination
// says (a local directory, or an Azure Storage account reached through
// azblob), and any other account A is the directory Root/A.
type Accounts struct {
	Named map[string]audit.Destination
	Root  string
}

var _ backup.Storage = Accounts{}

// Open implements backup.Storage.
func (a Accounts) Open(uri string, c backup.Credential) (backup.Container, error) {
	account, cont, err := backup.ParseContainerURI(uri)
	if err != nil {
		return nil, err
	}
	if c.SAS == "" && !c.ManagedIdentity {
		return nil, backup.StorageErr("give a SAS token or useManagedIdentity: true")
	}
	dst, ok := a.Named[account]
	if !ok {
		if a.Root == "" {
			return nil, backup.StorageErr("storage account %s is not configured on this server", account)
		}
		dst = audit.LocalDir(filepath.Join(a.Root, account))
	}
	switch d := dst.(type) {
	case audit.LocalDir:
		return backup.Dir(filepath.Join(string(d), cont)), nil
	case *audit.Blob:
		return openBlob(d, account, cont, c)
	}
	return nil, backup.StorageErr("storage account %s has a destination backup cannot use", account)
}

// Blob is a container of Azure Blob Storage (or Azurite).
type Blob struct {
	c    *container.Client
	desc string
}

var _ backup.Container = (*Blob)(nil)

// openBlob reaches container cont of the account behind d: with the
// request's SAS when there is one, else with the account's configured
// shared key (the server's own identity, Azure's managed identity).
func openBlob(d *audit.Blob, account, cont string, c backup.Credential) (*Blob, error) {
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
		return nil, backup.StorageErr("storage account %s has no server credential configured (account-key-env), so useManagedIdentity cannot be used", account)
	}
	if err != nil {
		return nil, backup.StorageErr("storage account %s: %v", account, err)
	}
	return &Blob{c: cc, desc: u}, nil
}

// Folder implements backup.Container.
func (b *Blob) Folder(name string) backup.Folder { return blobFolder{b: b, name: name} }

func (b *Blob) String() string { return "azblob:" + b.desc }

type blobFolder struct {
	b    *Blob
	name string
}

func (f blobFolder) blob(name string) (string, error) {
	if backup.CheckFolderName(f.name) != nil || backup.CheckFolderName(name) != nil {
		return "", backup.StorageErr("invalid folder or blob name")
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
			return serviceError(err)
		}
		if _, err := f.b.c.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return serviceError(err)
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
		return nil, backup.ErrNotFound
	}
	if err != nil {
		return nil, serviceError(err)
	}
	defer resp.Body.Close()
	return backup.ReadLimited(resp.Body, limit, name)
}

// serviceError replaces an error response of the storage service by
// backup.ServiceError, whose text holds no URL (and so no SAS); other
// errors (network) are returned unchanged.
func serviceError(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return &backup.ServiceError{Status: re.StatusCode, Code: re.ErrorCode}
	}
	return err
}
