package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// The chained line format, shared by the writer and the verifier.
//
// A chain is a sequence of lines, each one JSON object followed by "\n".
// Every line carries "seq" (1, 2, 3, … with no gaps) and "prevHash", the
// lowercase hex SHA-256 of the previous line's exact bytes (without its
// newline); the first line's prevHash is 64 zeros. A line is either an
// AuditEvent record (category "AuditEvent") or a checkpoint (category
// "AuditCheckpoint"). A checkpoint signs, with the chain's Ed25519 audit
// key, the message
//
//	"mhsm-audit-checkpoint/v1\x00" chain "\x00" seq "\x00" prevHash "\x00" time "\x00" keyId
//
// so it vouches for every line before it through prevHash. Checkpoint lines
// must be byte-for-byte the canonical encoding of checkpointLine, so not even
// the last line of a log can be altered without detection.

const (
	// CategoryAuditEvent is the category of request records (Azure's).
	CategoryAuditEvent = "AuditEvent"
	// CategoryCheckpoint is the category of signed checkpoint lines.
	CategoryCheckpoint = "AuditCheckpoint"
	// AlgEd25519 is the only checkpoint signature algorithm.
	AlgEd25519 = "Ed25519"

	sigContext = "mhsm-audit-checkpoint/v1"
	// maxLine bounds one line; events are cut to fit well below it.
	maxLine = 64 << 10
)

// digest is the SHA-256 of a line.
type digest [sha256.Size]byte

var genesis digest

func hashLine(line []byte) digest { return sha256.Sum256(line) }

func (d digest) String() string { return hex.EncodeToString(d[:]) }

// checkpointLine is the canonical form of a checkpoint; field order is the
// encoding order.
type checkpointLine struct {
	Time      string `json:"time"`
	Category  string `json:"category"`
	ID        string `json:"id"`
	Chain     string `json:"chain"`
	Alg       string `json:"alg"`
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"`
	Sig       string `json:"sig"`
	Seq       uint64 `json:"seq"`
	PrevHash  string `json:"prevHash"`
}

// KeyID names a public key: the first 16 bytes of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:16])
}

func sigMessage(chain string, seq uint64, prevHash, t, keyID string) []byte {
	var b bytes.Buffer
	for i, s := range []string{sigContext, chain, strconv.FormatUint(seq, 10), prevHash, t, keyID} {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(s)
	}
	return b.Bytes()
}

// appendRecord appends to dst the line for an encoded event object: the
// object with the chain fields added.
func appendRecord(dst, body []byte, seq uint64, prev digest) []byte {
	dst = append(dst, body[:len(body)-1]...)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"prevHash":"`...)
	dst = hex.AppendEncode(dst, prev[:])
	return append(dst, `"}`...)
}

// encodeCheckpoint returns a signed checkpoint line.
func encodeCheckpoint(chain string, seq uint64, prev digest, now time.Time, key ed25519.PrivateKey) []byte {
	pub := key.Public().(ed25519.PublicKey)
	cp := checkpointLine{
		Time: now.UTC().Format(time.RFC3339Nano), Category: CategoryCheckpoint,
		ID: "checkpoint-" + chain + "-" + strconv.FormatUint(seq, 10), Chain: chain,
		Alg: AlgEd25519, KeyID: KeyID(pub), PublicKey: base64.StdEncoding.EncodeToString(pub),
		Seq: seq, PrevHash: prev.String(),
	}
	cp.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, sigMessage(cp.Chain, cp.Seq, cp.PrevHash, cp.Time, cp.KeyID)))
	b, _ := json.Marshal(&cp) // cannot fail: strings and integers only
	return b
}

// head is what the verifier reads from every line.
type head struct {
	Seq      *uint64 `json:"seq"`
	PrevHash string  `json:"prevHash"`
	Category string  `json:"category"`
	ID       string  `json:"id"`
	Time     string  `json:"time"`
}

var errMalformed = errors.New("not a chained audit line")

// parseHead decodes the chain fields of a line.
func parseHead(line []byte) (head, error) {
	var h head
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &h) != nil || h.Seq == nil || len(h.PrevHash) != 2*sha256.Size {
		return head{}, errMalformed
	}
	if _, err := hex.DecodeString(h.PrevHash); err != nil {
		return head{}, errMalformed
	}
	return h, nil
}

// parseCheckpoint decodes a checkpoint line and checks it is canonical.
func parseCheckpoint(line []byte) (*checkpointLine, error) {
	var cp checkpointLine
	if err := json.Unmarshal(line, &cp); err != nil {
		return nil, errMalformed
	}
	canon, _ := json.Marshal(&cp)
	if !bytes.Equal(canon, line) {
		return nil, errors.New("checkpoint is not in canonical form")
	}
	return &cp, nil
}

// checkSignature verifies cp with pub.
func (cp *checkpointLine) checkSignature(pub ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.DecodeString(cp.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, sigMessage(cp.Chain, cp.Seq, cp.PrevHash, cp.Time, cp.KeyID), sig)
}

// embeddedKey returns the public key a checkpoint carries.
func (cp *checkpointLine) embeddedKey() (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(cp.PublicKey)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("checkpoint public key is malformed")
	}
	return ed25519.PublicKey(b), nil
}
