package securitydomain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mhsm/mhsm/internal/wire"
)

// The fuzz targets run their seed corpus (testdata/fuzz) as ordinary tests.
// Properties: parsers never panic, refuse anything over MaxDocumentBytes,
// and what they accept re-encodes to something they accept identically;
// the decryptors return an error and no data, or data and no error.

// fixtureOfficer loads testdata/<name>.pem and .cer.
func fixtureOfficer(t testing.TB, name string) Officer {
	t.Helper()
	kp, err := os.ReadFile(filepath.Join("testdata", name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(filepath.Join("testdata", name+".cer"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKeyPEM(kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCertificatePEM(cp)
	if err != nil {
		t.Fatal(err)
	}
	return Officer{Key: k, Cert: c}
}

func fixtureOfficers(t testing.TB) []Officer {
	return []Officer{fixtureOfficer(t, "officer-0"), fixtureOfficer(t, "officer-1"), fixtureOfficer(t, "officer-2")}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(`{"EncData":{"data":[{"compact_jwe":"a.b.c.d.e","tag":"t"}],"kdf":"sp108_kdf"},"SharedKeys":{"key_algorithm":"shamir_share","required":2,"enc_shares":[{"x5t_256":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU","enc_key":"a.b.c.d.e"},{"x5t_256":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU","enc_key":"a.b.c.d.e"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := ParseFile(b)
		if err != nil {
			if sd != nil {
				t.Fatal("error with a result")
			}
			return
		}
		if len(b) > MaxDocumentBytes {
			t.Fatal("oversized document accepted")
		}
		again, err := marshal(sd)
		if err != nil {
			t.Fatal(err)
		}
		sd2, err := ParseFile(again)
		if err != nil || !reflect.DeepEqual(sd, sd2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseRestoreBlob(f *testing.F) {
	f.Add([]byte(`{"EncData":{"data":[{"compact_jwe":"a.b.c.d.e","tag":"t"}],"kdf":"sp108_kdf"},"WrappedKey":{"enc_key":"a.b.c.d.e","x5t_256":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRestoreBlob(b)
		if err != nil {
			if r != nil {
				t.Fatal("error with a result")
			}
			return
		}
		again, err := marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseRestoreBlob(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseShare(f *testing.F) {
	f.Add([]byte{0x00, 0x07, 0x05, 0x06})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseShare(b)
		if err != nil {
			return
		}
		if !bytes.Equal(MarshalShare(s), b) {
			t.Fatal("share does not round-trip")
		}
	})
}

// FuzzOpenRestoreBlob is the server's upload parser end to end, with the
// fixture transfer key.
func FuzzOpenRestoreBlob(f *testing.F) {
	tr := fixtureOfficer(f, "transfer")
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := OpenRestoreBlob(b, tr.Key, tr.Cert)
		if (err == nil) == (items == nil) {
			t.Fatalf("items %v with err %v", items != nil, err)
		}
		if err == nil {
			_, _ = RootFromItems(items)
		}
	})
}

// FuzzOpen is the offline reader of a security-domain file, with the three
// fixture officers.
func FuzzOpen(f *testing.F) {
	os := fixtureOfficers(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := Open(b, os)
		if (err == nil) == (items == nil) {
			t.Fatalf("items %v with err %v", items != nil, err)
		}
	})
}

// FuzzParseCertificateInfo is the download request's parser.
func FuzzParseCertificateInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var ci wire.CertificateInfo
		if json.Unmarshal(b, &ci) != nil {
			return
		}
		certs, err := ParseWrappingKeys(ci.Certificates)
		if err == nil && (len(certs) < MinWrappingKeys || len(certs) > MaxWrappingKeys) {
			t.Fatalf("%d certificates accepted", len(certs))
		}
	})
}

// TestWriteFuzzCorpus regenerates the valid documents of the seed corpus
// from the fixtures: MHSM_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("MHSM_WRITE_CORPUS") == "" {
		t.Skip("set MHSM_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	os3 := fixtureOfficers(t)
	tr := fixtureOfficer(t, "transfer")
	file := buildFile(t, os3, 2)
	blob, err := MakeRestoreBlob(file, os3[1:], tr.Cert)
	if err != nil {
		t.Fatal(err)
	}
	var jwks []wire.SecurityDomainJSONWebKey
	for _, o := range os3 {
		j, _ := WrappingKeyJWK(o.Cert)
		jwks = append(jwks, j)
	}
	req, _ := json.Marshal(wire.CertificateInfo{Certificates: jwks})
	shares, _ := Split([]byte("0123456789abcdef"), 3, 2)
	write := func(target, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FuzzParseFile", "valid", file)
	write("FuzzOpen", "valid", file)
	write("FuzzOpen", "truncated", file[:len(file)/2])
	write("FuzzParseRestoreBlob", "valid", blob)
	write("FuzzOpenRestoreBlob", "valid", blob)
	write("FuzzOpenRestoreBlob", "other-file", file)
	write("FuzzOpenRestoreBlob", "deep", []byte(strings.Repeat("[", 10000)))
	write("FuzzParseShare", "valid", MarshalShare(shares[2]))
	write("FuzzParseCertificateInfo", "valid", req)
}
