package securitydomain

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestKDFVector is the SP800-108 vector of managed-hsm.md §5.3 (the one the
// Azure CLI's implementation is tested with).
func TestKDFVector(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0x41}, 32)
	got := hex.EncodeToString(KDF(key, "label", "context", 256))
	want := "f0ca51f6308791404bf68b56024ee7c64d6c737716f81d47e1e68b5c4e399575"
	if got != want {
		t.Fatalf("KDF = %s, want %s", got, want)
	}
}

func TestKDFLengths(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	full := KDF(key, "t", "", 512)
	if len(full) != 64 {
		t.Fatalf("len = %d", len(full))
	}
	// L is part of the input, so a shorter output is not a prefix.
	if bytes.Equal(KDF(key, "t", "", 256), full[:32]) {
		t.Fatal("KDF(256) is a prefix of KDF(512): L is not bound")
	}
	if len(KDF(key, "t", "", 1024)) != 128 {
		t.Fatal("multi-block length")
	}
}
