package securitydomain

import (
	"fmt"
	"io"
	"log/slog"
)

// RootTag tags the EncData item that carries an HSM's key-hierarchy root.
const RootTag = "mhsm-key-hierarchy-root-v1"

// RootFormat is Root.Version for this version of the payload.
const RootFormat = "mhsm-root/v1"

// maxRootPayload bounds the RootTag item's plaintext.
const maxRootPayload = 4 << 10

// RootKeySize is the size of a key-hierarchy root (a barrier data key).
const RootKeySize = 32

// Root is the payload of the RootTag item: the key-hierarchy root of the HSM
// the domain was downloaded from, and where it came from. DomainID names the
// download; HSM and TenantID are informational.
type Root struct {
	Version  string `json:"format"`
	DomainID string `json:"domainId"`
	HSM      string `json:"hsm"`
	TenantID string `json:"tenantId"`
	Created  int64  `json:"created"`
	Key      []byte `json:"key"`
}

const redactedRoot = "securitydomain.Root{REDACTED}"

// Format prints a redacted placeholder for every fmt verb.
func (r Root) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redactedRoot) }

// LogValue makes log/slog print a redacted placeholder.
func (r Root) LogValue() slog.Value { return slog.StringValue(redactedRoot) }

// Item encodes r as the RootTag item. The caller clears the plaintext.
func (r *Root) Item() (Item, error) {
	if len(r.Key) != RootKeySize {
		return Item{}, fmt.Errorf("securitydomain: root key must be %d bytes", RootKeySize)
	}
	r.Version = RootFormat
	b, err := marshal(r)
	if err != nil {
		return Item{}, err
	}
	return Item{Tag: RootTag, Plaintext: b}, nil
}

// RootFromItems finds and decodes the RootTag item.
func RootFromItems(items []Item) (*Root, error) {
	for _, it := range items {
		if it.Tag != RootTag {
			continue
		}
		if len(it.Plaintext) > maxRootPayload {
			return nil, errMalformed("the key-hierarchy root item is too large")
		}
		var r Root
		if err := decodeStrict(it.Plaintext, &r); err != nil {
			return nil, errMalformed("the key-hierarchy root item is not valid")
		}
		if r.Version != RootFormat || len(r.Key) != RootKeySize || r.DomainID == "" {
			clear(r.Key)
			return nil, errMalformed("the key-hierarchy root item is not valid")
		}
		return &r, nil
	}
	return nil, errMalformed("the security domain holds no mhsm key-hierarchy root (was it made by mhsm?)")
}
