package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Destination is a storage target receiving delivered logs.
type Destination interface {
	// Append appends data (whole lines) to the blob or file name, creating
	// it. An error means it may or may not have been appended.
	Append(ctx context.Context, name string, data []byte) error
	// String describes the destination without credentials.
	String() string
}

// DeliveryContainer is the container (or directory) Azure Monitor writes
// AuditEvent logs to.
const DeliveryContainer = "insights-logs-auditevent"

// LocalDir delivers to <dir>/insights-logs-auditevent/<name>.
type LocalDir string

var _ Destination = LocalDir("")

// Append implements Destination: append, fsync, and fsync the directory
// when the file is new.
func (d LocalDir) Append(_ context.Context, name string, data []byte) error {
	if strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return fmt.Errorf("audit: bad blob name %q", name)
	}
	p := filepath.Join(string(d), DeliveryContainer, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	_, statErr := os.Stat(p)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && statErr != nil {
		err = syncDir(filepath.Dir(p))
	}
	return err
}

func (d LocalDir) String() string { return "local:" + string(d) }

// Blob delivers to append blobs of an Azure Storage container (Azurite
// included), authorized by a SAS in the container URL or a shared key.
type Blob struct {
	c    *container.Client
	desc string
	// account is the container URL without the container and query;
	// cred is the shared key, nil without one (see Account).
	account string
	cred    *container.SharedKeyCredential
}

// Account returns the storage account of the destination — its container
// URL without the container and without any SAS — and its shared-key
// credential (nil when it has none), so other features (full HSM backup,
// package backup) reach other containers of the same configured account.
func (b *Blob) Account() (string, *container.SharedKeyCredential) { return b.account, b.cred }

var _ Destination = (*Blob)(nil)

// NewBlob returns a destination for containerURL ("https://<account>.blob.core.windows.net/<container>[?<SAS>]",
// or path-style "http://127.0.0.1:10000/<account>/<container>" for
// Azurite). With accountKey non-empty it signs with the shared key of the
// account named in the URL; otherwise the URL's SAS (or anonymous access)
// is used. The container is created on first use if missing.
func NewBlob(containerURL, accountKey string) (*Blob, error) {
	u, err := url.Parse(containerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("audit: blob destination: container URL must be http(s)://host/…")
	}
	desc := u.Scheme + "://" + u.Host + u.Path
	acct := u.Scheme + "://" + u.Host
	if i := strings.LastIndexByte(strings.TrimRight(u.Path, "/"), '/'); i > 0 {
		acct += u.Path[:i] // path-style (emulator): keep /<account>
	}
	if accountKey == "" {
		c, err := container.NewClientWithNoCredential(containerURL, nil)
		if err != nil {
			return nil, fmt.Errorf("audit: blob destination: %w", err)
		}
		return &Blob{c: c, desc: desc, account: acct}, nil
	}
	account := strings.SplitN(u.Host, ".", 2)[0]
	if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); len(parts) == 2 {
		account = parts[0] // path-style (emulator) URL
	}
	cred, err := container.NewSharedKeyCredential(account, accountKey)
	if err != nil {
		return nil, fmt.Errorf("audit: blob destination: shared key: %w", err)
	}
	c, err := container.NewClientWithSharedKeyCredential(containerURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("audit: blob destination: %w", err)
	}
	return &Blob{c: c, desc: desc, account: acct, cred: cred}, nil
}

func (b *Blob) String() string { return "azblob:" + b.desc }

// maxAppendBlock is the largest append block Azure Storage accepts.
const maxAppendBlock = 4 << 20

// Append implements Destination with AppendBlock, creating the container
// and the append blob when missing.
func (b *Blob) Append(ctx context.Context, name string, data []byte) error {
	ab := b.c.NewAppendBlobClient(name)
	for len(data) > 0 {
		n := len(data)
		if n > maxAppendBlock {
			n = bytes.LastIndexByte(data[:maxAppendBlock], '\n') + 1
			if n <= 0 {
				n = maxAppendBlock
			}
		}
		if err := b.appendBlock(ctx, ab, data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (b *Blob) appendBlock(ctx context.Context, ab *appendblob.Client, chunk []byte) error {
	for attempt := 0; ; attempt++ {
		_, err := ab.AppendBlock(ctx, streaming.NopCloser(bytes.NewReader(chunk)), nil)
		if err == nil || attempt == 2 {
			return err
		}
		switch {
		case bloberror.HasCode(err, bloberror.ContainerNotFound):
			if _, err := b.c.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
				return err
			}
		case bloberror.HasCode(err, bloberror.BlobNotFound):
			if _, err := ab.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists) {
				if !bloberror.HasCode(err, bloberror.ContainerNotFound) {
					return err
				}
			}
		default:
			return err
		}
	}
}

// BlobFiles reads delivered logs from a container, for `mhsm audit query`
// and `verify`: reading logs needs rights on the container only.
type BlobFiles struct{ B *Blob }

var _ Files = BlobFiles{}

// List implements Files.
func (f BlobFiles) List(ctx context.Context) ([]string, error) {
	var out []string
	pager := f.B.c.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name != nil {
				out = append(out, *it.Name)
			}
		}
	}
	return out, nil
}

// Open implements Files.
func (f BlobFiles) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, err := f.B.c.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ParseDestination reads a destination of the server configuration:
//
//	NAME=local:/path/to/dir
//	NAME=azblob:<container URL>[;account-key-env=VAR]
//
// The shared key is read from the environment variable VAR, never from the
// command line; a SAS may be part of the container URL.
func ParseDestination(spec string, getenv func(string) string) (string, Destination, error) {
	name, rest, ok := strings.Cut(spec, "=")
	if !ok || !accountName.MatchString(name) {
		return "", nil, errors.New("audit destination: want NAME=local:DIR or NAME=azblob:URL (NAME in lower-case letters, digits, dashes)")
	}
	kind, target, _ := strings.Cut(rest, ":")
	switch kind {
	case "local":
		if target == "" || !filepath.IsAbs(target) {
			return "", nil, fmt.Errorf("audit destination %s: local directory must be an absolute path", name)
		}
		return name, LocalDir(filepath.Clean(target)), nil
	case "azblob":
		u, opts, _ := strings.Cut(target, ";")
		key := ""
		for _, o := range strings.Split(opts, ";") {
			if o == "" {
				continue
			}
			k, v, _ := strings.Cut(o, "=")
			if k != "account-key-env" || v == "" {
				return "", nil, fmt.Errorf("audit destination %s: unknown option %q (want account-key-env=VAR)", name, k)
			}
			if key = getenv(v); key == "" {
				return "", nil, fmt.Errorf("audit destination %s: environment variable %s is empty", name, v)
			}
		}
		b, err := NewBlob(u, key)
		if err != nil {
			return "", nil, fmt.Errorf("audit destination %s: %w", name, err)
		}
		return name, b, nil
	}
	return "", nil, fmt.Errorf("audit destination %s: kind %q is not local or azblob", name, kind)
}
