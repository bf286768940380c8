package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The reflection-based encoder the hand-written one replaced, kept as the
// oracle it must match byte for byte.

// wireEvent is the encoding; field order is the order written.
type wireEvent struct {
	Time              string         `json:"time"`
	ResourceID        string         `json:"resourceId"`
	TenantID          string         `json:"TenantId,omitempty"`
	OperationName     string         `json:"operationName"`
	OperationVersion  string         `json:"operationVersion"`
	Category          string         `json:"category"`
	ResultType        string         `json:"resultType"`
	ResultSignature   string         `json:"resultSignature"`
	ResultDescription string         `json:"resultDescription,omitempty"`
	DurationMs        int64          `json:"durationMs"`
	CallerIPAddress   string         `json:"callerIpAddress"`
	CorrelationID     string         `json:"correlationId"`
	Identity          string         `json:"identity"`
	Properties        map[string]any `json:"properties"`
	ID                string         `json:"id"`
}

// encodeReflect renders e as one JSON object, HMACing hashed values with key.
func (e *Event) encodeReflect(key []byte) ([]byte, error) {
	w := wireEvent{
		Time:              e.Time.UTC().Format(time.RFC3339Nano),
		ResourceID:        clip(e.ResourceID, 512),
		TenantID:          clip(e.TenantID, 64),
		OperationName:     clip(e.Operation, 128),
		OperationVersion:  clip(e.OperationVersion, 32),
		Category:          CategoryAuditEvent,
		ResultType:        ResultType(e.Status),
		ResultSignature:   resultSignature(e.Status),
		ResultDescription: clip(e.ResultDescription, 512),
		DurationMs:        e.Duration.Milliseconds(),
		CallerIPAddress:   clip(e.CallerIP, 64),
		CorrelationID:     clip(e.CorrelationID, 128),
		ID:                clip(e.RequestID, 128),
	}
	if w.OperationName == "" {
		w.OperationName = "Unknown"
	}
	if e.Caller != (Caller{}) {
		var id wireIdentity
		id.Claim.AppID, id.Claim.IDType = clip(e.Caller.AppID, 64), clip(e.Caller.IDType, 16)
		id.Claim.MS.Claims.ObjectID, id.Claim.MS.Claims.TenantID = clip(e.Caller.ObjectID, 64), clip(e.Caller.TenantID, 64)
		if e.Caller.UPN != "" {
			id.Claim.SOAP = &struct {
				Claims struct {
					UPN string `json:"upn"`
				} `json:"claims"`
			}{}
			id.Claim.SOAP.Claims.UPN = clip(e.Caller.UPN, 256)
		}
		b, err := json.Marshal(&id)
		if err != nil {
			return nil, err
		}
		w.Identity = string(b)
	}
	p := map[string]any{
		"requestUri":     clip(e.RequestURI, 2048),
		"httpStatusCode": e.Status,
	}
	if e.ClientInfo != "" {
		p["clientInfo"] = clip(e.ClientInfo, 256)
	}
	if e.DataAction != "" {
		p["dataAction"] = clip(e.DataAction, 256)
	}
	if e.Scope != "" {
		p["scope"] = clip(e.Scope, 256)
	}
	if e.Authorized != nil {
		p["isRbacAuthorized"] = *e.Authorized
	}
	if e.AssignmentID != "" {
		p["appliedAssignmentId"] = clip(e.AssignmentID, 256)
	}
	if e.RoleID != "" {
		p["roleDefinitionId"] = clip(e.RoleID, 256)
	}
	if e.HSM != "" {
		p["PoolType"], p["sku_Family"], p["sku_Name"] = "M-HSM", "B", "Standard_B1"
	}
	for k, v := range e.Properties {
		if _, taken := p[k]; !taken && len(p) < 64 {
			p[clip(k, 64)] = clip(v, 1024)
		}
	}
	for k, v := range e.hashed {
		p[clip(k, 64)] = HMAC(key, v)
	}
	w.Properties = p
	b, err := json.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("audit: encode event: %w", err)
	}
	return b, nil
}

// awkward strings: HTML characters, controls, quotes, invalid UTF-8,
// line/paragraph separators, multi-byte runes at clip boundaries.
var awkward = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "\x00\x01\b\f\n\r\t\x1f\x7f",
	"bad \xff utf8 \xc3", "sep \u2028 and \u2029", "é€𝄞", strings.Repeat("é", 300), strings.Repeat("<", 2100),
	"11111111-1111-4111-8111-111111111111", "KeySign", "/keys/k1/sign?api-version=7.4",
}

func randString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return awkward[r.IntN(len(awkward))]
	}
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

func randEvent(r *rand.Rand) *Event {
	e := &Event{
		Time:     time.Unix(r.Int64N(1<<34), r.Int64N(1e9)).In(time.FixedZone("x", 3600)),
		HSM:      []string{"", "dev"}[r.IntN(2)],
		Status:   []int{0, 200, 204, 401, 403, 429, 503, 599}[r.IntN(8)],
		Duration: time.Duration(r.Int64N(int64(time.Hour))),
	}
	for _, f := range []*string{&e.ResourceID, &e.TenantID, &e.Operation, &e.OperationVersion, &e.ResultDescription,
		&e.CallerIP, &e.CorrelationID, &e.RequestID, &e.RequestURI, &e.ClientInfo, &e.DataAction, &e.Scope,
		&e.AssignmentID, &e.RoleID} {
		if r.IntN(4) > 0 {
			*f = randString(r)
		}
	}
	if r.IntN(3) > 0 {
		for _, f := range []*string{&e.Caller.ObjectID, &e.Caller.TenantID, &e.Caller.AppID, &e.Caller.UPN, &e.Caller.IDType} {
			if r.IntN(2) > 0 {
				*f = randString(r)
			}
		}
	}
	if r.IntN(2) > 0 {
		b := r.IntN(2) == 0
		e.Authorized = &b
	}
	if n := r.IntN(6); n > 0 {
		e.Properties = map[string]string{}
		for range n {
			// Names up to 64 bytes: longer ones are clipped, and two clipped
			// names may collide, where the oracle's map order decides.
			k := randString(r)
			if len(k) > 64 {
				k = k[:64]
			}
			e.Properties[k] = randString(r)
		}
		if r.IntN(2) == 0 {
			e.Properties["requestUri"] = "collides with a fixed property"
		}
	}
	for range r.IntN(3) {
		e.Hash([]string{"tokenHash", "clientIdHash", "requestUri"}[r.IntN(3)], randString(r))
	}
	return e
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	key := []byte("hmac key")
	for i := range 20000 {
		e := randEvent(r)
		want, err := e.encodeReflect(key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := e.encode(key)
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	})
}

// BenchmarkEncodeEvent compares the hand-written encoder with the
// reflection-based one it replaced.
func BenchmarkEncodeEvent(b *testing.B) {
	e := event("dev", 7)
	e.ClientInfo = "azsdk-go-azkeys/v1.5.0 (go1.26.8; linux)"
	e.Hash("tokenHash", "digest")
	key := []byte("k")
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = e.encode(key)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = e.encodeReflect(key)
		}
	})
}
