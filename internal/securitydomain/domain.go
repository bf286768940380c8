package securitydomain

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Limits of a download request (managed-hsm.md §5.1, §5.2).
const (
	MinWrappingKeys = 3
	MaxWrappingKeys = 10
	MinQuorum       = 2
	MaxQuorum       = 10
	// MasterKeySize is the size of the split master key (and of the one a
	// restore blob wraps).
	MasterKeySize = 32
	// MinRSABits is the smallest officer or transfer key accepted.
	MinRSABits = 2048
)

// ErrWrongShares means a quorum of shares was found but the master key they
// rebuild does not open the file's data: a share is from another security
// domain or was altered, or the file was.
var ErrWrongShares = errors.New("securitydomain: the shares do not open this security domain (a share or the file is from another domain, or altered)")

// Item is one piece of protected data: a tag and its plaintext.
type Item struct {
	Tag       string
	Plaintext []byte
}

// Officer is a holder of a share: an RSA private key and, optionally, its
// certificate. With the certificate, shares are matched by thumbprint;
// without, every share is tried.
type Officer struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
}

// Build makes a security-domain file: a fresh random master key is split
// among certs (one share each, any required of them rebuild it) and each
// item is encrypted under KDF(master, tag).
func Build(items []Item, certs []*x509.Certificate, required int) ([]byte, error) {
	if len(certs) < MinWrappingKeys || len(certs) > MaxWrappingKeys {
		return nil, fmt.Errorf("securitydomain: %d certificates; want %d to %d", len(certs), MinWrappingKeys, MaxWrappingKeys)
	}
	if required < MinQuorum || required > MaxQuorum || required > len(certs) {
		return nil, fmt.Errorf("securitydomain: quorum %d with %d certificates; want 2..min(10, certificates)", required, len(certs))
	}
	pubs := make([]*rsa.PublicKey, len(certs))
	for i, c := range certs {
		pub, err := rsaKeyOf(c)
		if err != nil {
			return nil, err
		}
		pubs[i] = pub
	}
	master := make([]byte, MasterKeySize)
	defer clear(master)
	_, _ = rand.Read(master)
	ed, err := sealItems(master, items)
	if err != nil {
		return nil, err
	}
	shares, err := Split(master, len(certs), required)
	if err != nil {
		return nil, err
	}
	f := File{EncData: *ed, SharedKeys: SharedKeys{KeyAlgorithm: KeyAlgorithmShamir, Required: required}}
	for i, s := range shares {
		pt := MarshalShare(s)
		clear(s.Values)
		tp := Thumbprint(certs[i])
		jwe, err := encryptRSA(pubs[i], tp, pt)
		clear(pt)
		if err != nil {
			return nil, err
		}
		f.SharedKeys.EncShares = append(f.SharedKeys.EncShares, EncShare{X5t256: tp, EncKey: jwe})
	}
	return marshal(&f)
}

// Open rebuilds a file's master key from the shares the officers' keys
// decrypt and returns its items. Every share that any officer can decrypt
// is used, so more than a quorum is checked for consistency; the same share
// given twice counts once.
func Open(file []byte, officers []Officer) ([]Item, error) {
	f, err := ParseFile(file)
	if err != nil {
		return nil, err
	}
	var shares []Share
	for _, o := range officers {
		if o.Key == nil {
			continue
		}
		tp := ""
		if o.Cert != nil {
			tp = Thumbprint(o.Cert)
		}
		for _, es := range f.SharedKeys.EncShares {
			if tp != "" && es.X5t256 != tp {
				continue
			}
			pt, err := decryptRSA(es.EncKey, o.Key, []jose.KeyAlgorithm{jose.RSA_OAEP_256, jose.RSA_OAEP, jose.RSA1_5})
			if errors.Is(err, ErrDecrypt) {
				continue // not this officer's share
			}
			if err != nil {
				return nil, err
			}
			s, err := ParseShare(pt)
			clear(pt)
			if err != nil {
				return nil, err
			}
			shares = append(shares, s)
		}
	}
	master, err := Combine(shares, f.SharedKeys.Required)
	if err != nil {
		return nil, err
	}
	defer clear(master)
	items, err := openItems(master, &f.EncData)
	if errors.Is(err, ErrDecrypt) {
		return nil, ErrWrongShares
	}
	return items, err
}

// MakeRestoreBlob is the offline step of recovery (az keyvault
// security-domain restore-blob): open the file with a quorum of officers,
// re-encrypt its items under a new random master key, and wrap that key to
// the recovering HSM's exchange (transfer key) certificate.
func MakeRestoreBlob(file []byte, officers []Officer, exchange *x509.Certificate) ([]byte, error) {
	pub, err := rsaKeyOf(exchange)
	if err != nil {
		return nil, err
	}
	items, err := Open(file, officers)
	if err != nil {
		return nil, err
	}
	defer clearItems(items)
	master := make([]byte, MasterKeySize)
	defer clear(master)
	_, _ = rand.Read(master)
	ed, err := sealItems(master, items)
	if err != nil {
		return nil, err
	}
	wrapped, err := encryptRSA(pub, "not used", master)
	if err != nil {
		return nil, err
	}
	return marshal(&RestoreBlob{EncData: *ed, WrappedKey: WrappedKey{EncKey: wrapped, X5t256: Thumbprint(exchange)}})
}

// OpenRestoreBlob is the server side of an upload: the blob's wrapped key
// must be addressed to the transfer certificate, unwrap with the transfer
// key (RSA-OAEP-256 or RSA-OAEP; never RSA1_5 on a server) to a 32-byte
// master key, and open every item.
func OpenRestoreBlob(blob []byte, transferKey *rsa.PrivateKey, transferCert *x509.Certificate) ([]Item, error) {
	r, err := ParseRestoreBlob(blob)
	if err != nil {
		return nil, err
	}
	if r.WrappedKey.X5t256 != Thumbprint(transferCert) {
		return nil, errMalformed("the restore blob is wrapped to another transfer key; run init-recovery again and rebuild the blob")
	}
	master, err := decryptRSA(r.WrappedKey.EncKey, transferKey, []jose.KeyAlgorithm{jose.RSA_OAEP_256, jose.RSA_OAEP})
	if err != nil {
		return nil, err
	}
	defer clear(master)
	if len(master) != MasterKeySize {
		return nil, errMalformed("the wrapped master key has the wrong size")
	}
	return openItems(master, &r.EncData)
}

func sealItems(master []byte, items []Item) (*EncData, error) {
	if len(items) == 0 || len(items) > maxData {
		return nil, fmt.Errorf("securitydomain: %d items; want 1..%d", len(items), maxData)
	}
	ed := &EncData{KDF: KDFName}
	for _, it := range items {
		if it.Tag == "" || len(it.Tag) > maxTag {
			return nil, fmt.Errorf("securitydomain: invalid tag %s", quote(it.Tag))
		}
		cek := KDF(master, it.Tag, "", 512)
		jwe, err := encryptDirect(cek, it.Tag, it.Plaintext)
		clear(cek)
		if err != nil {
			return nil, err
		}
		ed.Data = append(ed.Data, Datum{CompactJWE: jwe, Tag: it.Tag})
	}
	return ed, nil
}

func openItems(master []byte, ed *EncData) ([]Item, error) {
	var items []Item
	for _, d := range ed.Data {
		cek := KDF(master, d.Tag, "", 512)
		pt, err := decryptDirect(d.CompactJWE, cek)
		clear(cek)
		if err != nil {
			clearItems(items)
			return nil, err
		}
		items = append(items, Item{Tag: d.Tag, Plaintext: pt})
	}
	return items, nil
}

func clearItems(items []Item) {
	for _, it := range items {
		clear(it.Plaintext)
	}
}

// rsaKeyOf returns a certificate's RSA public key if it has at least
// MinRSABits.
func rsaKeyOf(c *x509.Certificate) (*rsa.PublicKey, error) {
	if c == nil {
		return nil, errors.New("securitydomain: missing certificate")
	}
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("securitydomain: certificate %s: only RSA keys of %d bits or more are supported", quote(c.Subject.String()), MinRSABits)
	}
	return pub, nil
}
