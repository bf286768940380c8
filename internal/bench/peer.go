package bench

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// OpenBao is the peer: an OpenBao server's Transit engine, driven with the
// same load generator (the std client mode) and the same operations as
// mhsm. Nil in PeerConfig means no binary was given: mhsm is compared with
// the peer figures recorded on this machine type, scaled by this run's raw
// ceiling.
type OpenBao struct {
	URL     *url.URL // e.g. https://127.0.0.1:8299
	Token   string
	CAFile  string
	rootCAs *x509.CertPool
}

// peerOp is one operation of the comparison, as each server spells it.
type peerOp struct {
	name, label string
	// bao is the Transit request (method, path, body).
	baoMethod, baoPath, baoBody string
	// recorded is the peer's figure measured on this machine type (issue
	// #20: OpenBao Transit, dev mode, in memory, no audit device, TLS, 16
	// connections), and recordedRaw the raw Go ceiling it was measured
	// beside; scaling by this run's ceiling makes it comparable.
	recorded, recordedRaw float64
	goal                  float64
}

// peerOps are the four operations of the comparison. The recorded raw
// ceiling of RSA-2048 (803/s = 0.62 of raw → 1,295/s) stands in for the
// machine's speed where the peer figure has no ceiling of its own (AES-GCM,
// the read).
func peerOps() []peerOp {
	digest := base64.StdEncoding.EncodeToString(sha256Digest())
	pt := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x05", 32)))
	const rsaRaw = 803 / 0.62
	return []peerOp{
		{"rsa2048-sign", "RSA-2048 PKCS#1 sign", "POST", "/v1/transit/sign/bench-rsa-2048/sha2-256",
			`{"input":"` + digest + `","prehashed":true,"signature_algorithm":"pkcs1v15"}`, 803, rsaRaw, 1.3},
		{"es256-sign", "P-256 sign", "POST", "/v1/transit/sign/bench-ec-p256/sha2-256",
			`{"input":"` + digest + `","prehashed":true}`, 3552, 3552 / 0.11, 1.8},
		{"a256gcm-encrypt-32", "AES-256-GCM encrypt 32 B", "POST", "/v1/transit/encrypt/bench-aes-256",
			`{"plaintext":"` + pt + `"}`, 3612, rsaRaw, 1.8},
		{Floor, "authenticated read, no crypto", "GET", "/v1/transit/keys/bench-aes-256", "", 4006, rsaRaw, 0},
	}
}

// PeerConfig is one side-by-side run.
type PeerConfig struct {
	Target   *Target
	Peer     *OpenBao // nil: recorded figures
	Conns    int
	Duration time.Duration
	Rounds   int
	Log      io.Writer
}

// PeerRow is one operation of the comparison.
type PeerRow struct {
	Op, Label string
	Raw       float64 // raw Go ceiling, this run
	MHSM      Phase
	Peer      Phase   // measured (Peer set)
	PeerEst   float64 // recorded figure scaled to this run (Peer nil)
	Ratio     float64 // mhsm ÷ peer
	Goal      float64
}

// RunPeer drives mhsm and the peer alternately, round by round, with the
// std client at cfg.Conns connections.
func RunPeer(ctx context.Context, cfg PeerConfig) ([]PeerRow, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	cfg.Rounds = max(cfg.Rounds, 1)
	slice := cfg.Duration / time.Duration(cfg.Rounds)
	warm := min(time.Second, slice/4)
	var names []string
	for _, po := range peerOps() {
		names = append(names, po.name)
	}
	ops, err := SelectOperations(strings.Join(names, ","))
	if err != nil {
		return nil, err
	}
	ps, err := prepareAll(ctx, cfg.Target, ops)
	if err != nil {
		return nil, err
	}
	var bt *Target
	if cfg.Peer != nil {
		if bt, err = cfg.Peer.setup(ctx); err != nil {
			return nil, fmt.Errorf("openbao: %w", err)
		}
	}
	var rows []PeerRow
	for i, po := range peerOps() {
		row := PeerRow{Op: po.name, Label: po.label, Goal: po.goal}
		var raw *rawOps
		if ps[i].op.raw != nil {
			if raw, err = newRawOps(ps[i].op.raw); err != nil {
				return nil, err
			}
		}
		var rawN int64
		var rawT time.Duration
		var mine, theirs []tally
		for k := range cfg.Rounds {
			if raw != nil {
				n, el, err := raw.run(ctx, slice)
				if err != nil {
					return nil, err
				}
				rawN, rawT = rawN+n, rawT+el
			}
			ss, err := senders(ctx, cfg.Target, ModeStd, ps[i], cfg.Conns)
			if err != nil {
				return nil, err
			}
			mine = append(mine, shiftSeconds(runLoad(ctx, ss, warm, slice, 0, nil), k)...)
			closeSenders(ss)
			if bt != nil {
				ss := cfg.Peer.senders(bt, po, cfg.Conns)
				theirs = append(theirs, shiftSeconds(runLoad(ctx, ss, warm, slice, 0, nil), k)...)
				closeSenders(ss)
			}
		}
		total := slice * time.Duration(cfg.Rounds)
		row.MHSM = summarize(mine, 0, total)
		if rawT > 0 {
			row.Raw = float64(rawN) / rawT.Seconds()
		}
		if bt != nil {
			row.Peer = summarize(theirs, 0, total)
			if row.Peer.OpsPerSec > 0 {
				row.Ratio = row.MHSM.OpsPerSec / row.Peer.OpsPerSec
			}
		} else {
			speed := row.Raw
			if po.name != "rsa2048-sign" && po.name != "es256-sign" {
				speed = rows[0].Raw // the RSA ceiling stands for the machine
			}
			row.PeerEst = po.recorded * speed / po.recordedRaw
			if row.PeerEst > 0 {
				row.Ratio = row.MHSM.OpsPerSec / row.PeerEst
			}
		}
		fmt.Fprintf(cfg.Log, "%-20s mhsm %7.0f/s  peer %7.0f/s  ratio %.2f\n", po.name, row.MHSM.OpsPerSec, max(row.Peer.OpsPerSec, row.PeerEst), row.Ratio)
		rows = append(rows, row)
	}
	return rows, nil
}

// WritePeerMarkdown writes the comparison table.
func WritePeerMarkdown(w io.Writer, rows []PeerRow, measured bool) error {
	var b strings.Builder
	peer := "OpenBao Transit (measured in this run)"
	if !measured {
		peer = "OpenBao Transit (recorded figure × this run's raw ceiling ÷ the ceiling it was recorded beside)"
	}
	fmt.Fprintf(&b, "| operation | raw Go | mhsm | %s | mhsm ÷ peer | goal | |\n|---|--:|--:|--:|--:|--:|---|\n", peer)
	for _, r := range rows {
		p := r.Peer.OpsPerSec
		if !measured {
			p = r.PeerEst
		}
		goal, verdict := "—", ""
		if r.Goal > 0 {
			goal = fmt.Sprintf("≥ %.1f", r.Goal)
			verdict = map[bool]string{true: "pass", false: "MISS"}[r.Ratio >= r.Goal]
		}
		raw := "—"
		if r.Raw > 0 {
			raw = fmt.Sprintf("%.0f", r.Raw)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f/s (p99 %.1f ms) | %.0f/s | %.2f | %s | %s |\n", r.Label, raw, r.MHSM.OpsPerSec, r.MHSM.P99Ms, p, r.Ratio, goal, verdict)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// setup enables Transit and creates the benchmark keys (both idempotent)
// and returns a Target for the std client.
func (o *OpenBao) setup(ctx context.Context) (*Target, error) {
	t := &Target{HSMURL: o.URL, Dial: o.URL.Host}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate", o.CAFile)
		}
	}
	hc := t.stdClient(1)
	call := func(method, path, body string) error {
		req, err := http.NewRequestWithContext(ctx, method, o.URL.String()+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("X-Vault-Token", o.Token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode/100 != 2 && !strings.Contains(string(b), "already in use") {
			return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
		}
		return nil
	}
	steps := [][3]string{
		{"POST", "/v1/sys/mounts/transit", `{"type":"transit"}`},
		{"POST", "/v1/transit/keys/bench-rsa-2048", `{"type":"rsa-2048"}`},
		{"POST", "/v1/transit/keys/bench-ec-p256", `{"type":"ecdsa-p256"}`},
		{"POST", "/v1/transit/keys/bench-aes-256", `{"type":"aes256-gcm96"}`},
	}
	for _, po := range peerOps() {
		steps = append(steps, [3]string{po.baoMethod, po.baoPath, po.baoBody})
	}
	for _, s := range steps {
		if err := call(s[0], s[1], s[2]); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// senders are n std-client senders of po's Transit request.
func (o *OpenBao) senders(t *Target, po peerOp, n int) []sender {
	hc := t.stdClient(n)
	var body []byte
	if po.baoBody != "" {
		body = []byte(po.baoBody)
	}
	out := make([]sender, n)
	for i := range out {
		out[i] = &stdSender{hc: hc, p: prepared{method: po.baoMethod, path: po.baoPath, body: body},
			url: o.URL.String() + po.baoPath, header: http.Header{"X-Vault-Token": {o.Token}}}
	}
	return out
}

// sha256Digest is the digest every signing operation signs.
func sha256Digest() []byte {
	d := sha256.Sum256([]byte("mhsm bench"))
	return d[:]
}
