package keys

// Wycheproof vectors (C2SP/wycheproof testvectors_v1) for every algorithm the
// service offers. The vectors live outside the module, in
// ../../../shared/testdata/wycheproof relative to this package (or
// $MHSM_WYCHEPROOF_DIR). If that folder is absent the tests skip — and fail
// when MHSM_REQUIRE_WYCHEPROOF is set, as scripts/test.sh does, so a clone
// without the vectors cannot report ok; if it is present, every file listed
// here must exist and every vector in it runs (counts are checked against
// numberOfTests). TestMain (wycheproof_main_test.go) prints the total.

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
)

type wpFile struct {
	Algorithm     string    `json:"algorithm"`
	Schema        string    `json:"schema"`
	NumberOfTests int       `json:"numberOfTests"`
	TestGroups    []wpGroup `json:"testGroups"`
}

type wpGroup struct {
	Type      string `json:"type"`
	KeySize   int    `json:"keySize"`
	IvSize    int    `json:"ivSize"`
	TagSize   int    `json:"tagSize"`
	Sha       string `json:"sha"`
	MgfSha    string `json:"mgfSha"`
	Mgf       string `json:"mgf"`
	SLen      int    `json:"sLen"`
	PublicKey struct {
		Modulus        hexBytes `json:"modulus"`
		PublicExponent hexBytes `json:"publicExponent"`
		Curve          string   `json:"curve"`
		Uncompressed   hexBytes `json:"uncompressed"`
	} `json:"publicKey"`
	PrivateKeyPkcs8 hexBytes `json:"privateKeyPkcs8"`
	Tests           []wpTest `json:"tests"`
}

type wpTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
	Msg     hexBytes `json:"msg"`
	Ct      hexBytes `json:"ct"`
	Sig     hexBytes `json:"sig"`
	Key     hexBytes `json:"key"`
	IV      hexBytes `json:"iv"`
	AAD     hexBytes `json:"aad"`
	Tag     hexBytes `json:"tag"`
	Label   hexBytes `json:"label"`
}

// Files per family. wycheproofNotCovered lists files in the folder that are
// deliberately not run here (JOSE parsing vectors, not key operations).
var (
	wpRSASigFiles = []string{
		"rsa_signature_2048_sha256_test.json", "rsa_signature_2048_sha384_test.json", "rsa_signature_2048_sha512_test.json",
		"rsa_signature_3072_sha256_test.json", "rsa_signature_3072_sha384_test.json", "rsa_signature_3072_sha512_test.json",
		"rsa_signature_4096_sha256_test.json", "rsa_signature_4096_sha384_test.json", "rsa_signature_4096_sha512_test.json",
	}
	wpPSSFiles = []string{
		"rsa_pss_2048_sha256_mgf1_32_test.json", "rsa_pss_2048_sha384_mgf1_48_test.json", "rsa_pss_3072_sha256_mgf1_32_test.json",
		"rsa_pss_4096_sha256_mgf1_32_test.json", "rsa_pss_4096_sha384_mgf1_48_test.json", "rsa_pss_4096_sha512_mgf1_32_test.json",
		"rsa_pss_4096_sha512_mgf1_64_test.json",
	}
	wpOAEPFiles = []string{
		"rsa_oaep_2048_sha1_mgf1sha1_test.json", "rsa_oaep_2048_sha256_mgf1sha1_test.json", "rsa_oaep_2048_sha256_mgf1sha256_test.json",
		"rsa_oaep_2048_sha384_mgf1sha1_test.json", "rsa_oaep_2048_sha384_mgf1sha384_test.json", "rsa_oaep_2048_sha512_mgf1sha1_test.json",
		"rsa_oaep_2048_sha512_mgf1sha512_test.json", "rsa_oaep_3072_sha256_mgf1sha1_test.json", "rsa_oaep_3072_sha256_mgf1sha256_test.json",
		"rsa_oaep_3072_sha512_mgf1sha1_test.json", "rsa_oaep_3072_sha512_mgf1sha512_test.json", "rsa_oaep_4096_sha256_mgf1sha1_test.json",
		"rsa_oaep_4096_sha256_mgf1sha256_test.json", "rsa_oaep_4096_sha512_mgf1sha1_test.json", "rsa_oaep_4096_sha512_mgf1sha512_test.json",
	}
	wpPKCS1DecFiles = []string{"rsa_pkcs1_2048_test.json", "rsa_pkcs1_3072_test.json", "rsa_pkcs1_4096_test.json"}
	wpECDSAFiles    = []string{
		"ecdsa_secp256r1_sha256_p1363_test.json", "ecdsa_secp384r1_sha384_p1363_test.json",
		"ecdsa_secp521r1_sha512_p1363_test.json", "ecdsa_secp256k1_sha256_p1363_test.json",
	}
	wpGCMFile            = "aes_gcm_test.json"
	wpCBCFile            = "aes_cbc_pkcs5_test.json"
	wpWrapFile           = "aes_wrap_test.json"
	wpKWPFile            = "aes_kwp_test.json"
	wycheproofNotCovered = []string{"json_web_key_test.json", "json_web_signature_test.json"}
)

// wpDir returns the vector folder, skipping the test if it is absent
// (failing it under MHSM_REQUIRE_WYCHEPROOF).
func wpDir(t *testing.T) string {
	t.Helper()
	wpStarted.Store(true)
	dir := os.Getenv("MHSM_WYCHEPROOF_DIR")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(wd, "..", "..", "..", "shared", "testdata", "wycheproof")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if os.Getenv("MHSM_REQUIRE_WYCHEPROOF") != "" {
			t.Fatalf("MHSM_REQUIRE_WYCHEPROOF is set but the Wycheproof vectors are not at %s (expected ../../../shared/testdata/wycheproof relative to the package, or $MHSM_WYCHEPROOF_DIR)", dir)
		}
		t.Skipf("Wycheproof vectors not found at %s (expected ../../../shared/testdata/wycheproof relative to the package); skipping", dir)
	}
	return dir
}

// wpLoad reads one vector file; a missing file fails the test. The schema
// is checked so that a decryption file is never run as a signature file.
func wpLoad(t *testing.T, name, wantSchema string) *wpFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wpDir(t), name))
	if err != nil {
		t.Fatalf("Wycheproof folder present but %s unreadable: %v", name, err)
	}
	var f wpFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if f.Schema != wantSchema {
		t.Fatalf("%s: schema %q, want %q", name, f.Schema, wantSchema)
	}
	n := 0
	for _, g := range f.TestGroups {
		n += len(g.Tests)
	}
	if n != f.NumberOfTests || n == 0 {
		t.Fatalf("%s: %d vectors in groups, numberOfTests says %d", name, n, f.NumberOfTests)
	}
	return &f
}

// wpCounter counts how vectors were exercised in one file.
type wpCounter struct {
	public, internal, total atomic.Int64
}

func (c *wpCounter) report(t *testing.T, name string, f *wpFile) {
	t.Helper()
	if int(c.total.Load()) != f.NumberOfTests {
		t.Errorf("%s: ran %d of %d vectors", name, c.total.Load(), f.NumberOfTests)
	}
	t.Logf("%s: %d vectors run (%d through the exported API, %d through internal helpers only), 0 skipped",
		name, c.total.Load(), c.public.Load(), c.internal.Load())
	wpVectors.Add(c.total.Load())
	wpFiles.Add(1)
}

// wpRun runs fn for every vector of f as a parallel subtest named by tcId.
// fn returns true if the vector went through the exported API.
func wpRun(t *testing.T, name string, f *wpFile, fn func(t *testing.T, g *wpGroup, tc *wpTest) bool) {
	var c wpCounter
	t.Run(strings.TrimSuffix(name, "_test.json"), func(t *testing.T) {
		for gi := range f.TestGroups {
			g := &f.TestGroups[gi]
			for ti := range g.Tests {
				tc := &g.Tests[ti]
				t.Run(fmt.Sprintf("tc%d", tc.TcID), func(t *testing.T) {
					t.Parallel()
					switch tc.Result {
					case "valid", "invalid", "acceptable":
					default:
						t.Fatalf("unknown result %q", tc.Result)
					}
					if fn(t, g, tc) {
						c.public.Add(1)
					} else {
						c.internal.Add(1)
					}
					c.total.Add(1)
				})
			}
		}
	})
	c.report(t, name, f)
}

// wpCheck applies the valid/invalid/acceptable rule to one outcome.
func wpCheck(t *testing.T, tc *wpTest, ok bool, what string) {
	t.Helper()
	switch {
	case tc.Result == "valid" && !ok:
		t.Errorf("valid vector rejected by %s (%s %v)", what, tc.Comment, tc.Flags)
	case tc.Result == "invalid" && ok:
		t.Errorf("invalid vector accepted by %s (%s %v)", what, tc.Comment, tc.Flags)
	}
}

func TestWycheproofInventory(t *testing.T) {
	dir := wpDir(t)
	known := map[string]bool{wpGCMFile: true, wpCBCFile: true, wpWrapFile: true, wpKWPFile: true}
	for _, l := range [][]string{wpRSASigFiles, wpPSSFiles, wpOAEPFiles, wpPKCS1DecFiles, wpECDSAFiles, wycheproofNotCovered} {
		for _, f := range l {
			known[f] = true
		}
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !known[filepath.Base(n)] {
			t.Errorf("%s is in the vector folder but no test covers it", filepath.Base(n))
		}
	}
	var missing []string
	for f := range known {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("vector files missing: %v", missing)
	}
}

func rsaSigAlgFor(t *testing.T, prefix string, h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return prefix + "256"
	case crypto.SHA384:
		return prefix + "384"
	case crypto.SHA512:
		return prefix + "512"
	}
	t.Fatalf("no %s algorithm for %v", prefix, h)
	return ""
}

func TestWycheproofRSASignature(t *testing.T) {
	t.Parallel()
	for _, name := range wpRSASigFiles {
		f := wpLoad(t, name, "rsassa_pkcs1_verify_schema_v1.json")
		wpRun(t, name, f, func(t *testing.T, g *wpGroup, tc *wpTest) bool {
			h := hashByName(t, g.Sha)
			m := newPublicRSA(new(big.Int).SetBytes(g.PublicKey.Modulus), int(new(big.Int).SetBytes(g.PublicKey.PublicExponent).Int64()))
			ok, err := m.Verify(rsaSigAlgFor(t, "RS", h), digestOf(h, tc.Msg), tc.Sig)
			if err != nil {
				t.Fatalf("Verify returned error for a well-formed request: %v", err)
			}
			wpCheck(t, tc, ok, "Material.Verify")
			return true
		})
	}
}

func TestWycheproofRSAPSS(t *testing.T) {
	t.Parallel()
	for _, name := range wpPSSFiles {
		f := wpLoad(t, name, "rsassa_pss_verify_schema_v1.json")
		wpRun(t, name, f, func(t *testing.T, g *wpGroup, tc *wpTest) bool {
			h := hashByName(t, g.Sha)
			if g.Mgf != "MGF1" || g.MgfSha != g.Sha {
				t.Fatalf("unsupported PSS parameters mgf=%s mgfSha=%s", g.Mgf, g.MgfSha)
			}
			m := newPublicRSA(new(big.Int).SetBytes(g.PublicKey.Modulus), int(new(big.Int).SetBytes(g.PublicKey.PublicExponent).Int64()))
			digest := digestOf(h, tc.Msg)
			if g.SLen == h.Size() {
				// PS256/384/512 semantics: salt length = hash length.
				ok, err := m.Verify(rsaSigAlgFor(t, "PS", h), digest, tc.Sig)
				if err != nil {
					t.Fatalf("Verify returned error: %v", err)
				}
				wpCheck(t, tc, ok, "Material.Verify")
				return true
			}
			// Salt length the service's PS* algorithms do not use: the same
			// verification helper with the file's sLen.
			wpCheck(t, tc, verifyPSS(m.rsaPub, h, digest, tc.Sig, g.SLen), "verifyPSS")
			if tc.Result == "valid" {
				// And PS* (salt = hash length) must reject it.
				if ok, _ := m.Verify(rsaSigAlgFor(t, "PS", h), digest, tc.Sig); ok {
					t.Errorf("signature with sLen=%d accepted by PS%d", g.SLen, 8*h.Size())
				}
			}
			return false
		})
	}
}

// wpRSAPrivate parses the file's PKCS#8 key and imports it through FromJWK.
func wpRSAPrivate(t *testing.T, g *wpGroup) *Material {
	k, err := x509.ParsePKCS8PrivateKey(g.PrivateKeyPkcs8)
	if err != nil {
		t.Fatalf("parse PKCS#8: %v", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("PKCS#8 key is %T", k)
	}
	m, err := FromJWK(jwkFromGoRSA(rk))
	if err != nil {
		t.Fatalf("FromJWK: %v", err)
	}
	if m.Size() != g.KeySize {
		t.Fatalf("key size %d, group says %d", m.Size(), g.KeySize)
	}
	return m
}
