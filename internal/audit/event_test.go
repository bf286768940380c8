package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestEventGolden pins the AuditEvent wire format.
func TestEventGolden(t *testing.T) {
	e := event("dev", 7)
	e.ResourceID = DefaultResourceID("dev")
	e.CorrelationID = "5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10"
	e.ClientInfo = "azsdk-go-azkeys/v1.5.0 (go1.26.8; linux)"
	e.Caller.UPN = "auditor@contoso.example"
	e.Hash("tokenHash", "eyJhbGciOi.secret-token.sig")
	b, err := e.encode([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "event.golden.json")
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Fatalf("wire format changed (go test -update to accept):\n%s", pretty.Bytes())
	}
	if strings.Contains(string(b), "secret-token") {
		t.Fatal("a hashed value was written in clear")
	}
	r, ok := ParseRecord(encodeRecord(b, 1, genesis))
	if !ok || r.ID != e.RequestID || r.Status != 200 || r.Caller != e.Caller || r.Operation != "KeySign" {
		t.Fatalf("round trip: %+v", r)
	}
}

func TestEventNeverPrintsHashedValues(t *testing.T) {
	e := &Event{RequestID: "r1"}
	e.Hash("tokenHash", "CANARY")
	for _, s := range []string{e.String(), e.LogValue().String()} {
		if strings.Contains(s, "CANARY") {
			t.Fatalf("%q", s)
		}
	}
}

func TestClipAndResult(t *testing.T) {
	if got := clip(strings.Repeat("é", 10), 5); got != "éé…" {
		t.Errorf("clip = %q", got)
	}
	for status, want := range map[int]string{200: "Success", 204: "Success", 401: "Failure", 503: "Failure"} {
		if ResultType(status) != want {
			t.Errorf("ResultType(%d) = %s", status, ResultType(status))
		}
	}
	if resultSignature(403) != "Forbidden" || resultSignature(429) != "TooManyRequests" {
		t.Error(resultSignature(403), resultSignature(429))
	}
	if !IsGUID("5e4b5c1a-9a0e-4d9b-a0f3-0c2a4b6e8d10") || IsGUID("my~secret.value") {
		t.Error("IsGUID")
	}
}

func TestFilter(t *testing.T) {
	b, _ := event("dev", 1).encode(nil)
	r, _ := ParseRecord(encodeRecord(b, 1, genesis))
	cases := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Operation: "keysign"}, true},
		{Filter{Operation: "KeyGet"}, false},
		{Filter{Principal: "11111111-1111-4111-8111-111111111111"}, true},
		{Filter{Principal: "22222222-2222-4222-8222-222222222222"}, true},
		{Filter{Principal: "someone"}, false},
		{Filter{Result: "Success"}, true},
		{Filter{Result: "failure"}, false},
		{Filter{Result: "200"}, true},
		{Filter{Result: "403"}, false},
		{Filter{Result: "OK"}, true},
		{Filter{Since: r.Time.Add(1)}, false},
		{Filter{Until: r.Time.Add(1)}, true},
	}
	for i, c := range cases {
		if got := c.f.Match(&r); got != c.want {
			t.Errorf("case %d %+v: %v", i, c.f, got)
		}
	}
}
