package securitydomain

import (
	"encoding/json"
	"strings"
	"testing"
)

// The parsers decode with strictjson: a key twice in one object, or a
// case-folded twin of it, is refused before any field is looked at.
func TestParsersRefuseDuplicateKeys(t *testing.T) {
	for _, doc := range []string{
		`{"kty":"RSA","kty":"oct"}`,
		`{"kty":"RSA","KTY":"oct"}`,
		`{"kty":"RSA","x5c":["a"],"X5C":["b"]}`,
	} {
		_, err := ParseTransferKey(json.RawMessage(doc))
		if err == nil || !strings.Contains(err.Error(), "not the expected JSON") {
			t.Errorf("ParseTransferKey(%s) = %v, want a refusal of the JSON", doc, err)
		}
		if _, err := ParseFile([]byte(`{"EncData":{},"encdata":{}}`)); err == nil || !strings.Contains(err.Error(), "not the expected JSON") {
			t.Errorf("ParseFile with a folded duplicate = %v", err)
		}
	}
}
