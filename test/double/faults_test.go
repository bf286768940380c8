package double

import (
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/mhsm/mhsm/mhsmtest"
)

// TestRetryPolicyAgainstInjected429: azcore's retry policy with its default
// options rides out two injected 429s (Retry-After: 1) and the third
// attempt succeeds; the rule counts the two faults it injected.
func TestRetryPolicyAgainstInjected429(t *testing.T) {
	srv := mhsmtest.Start(t)
	c := keysClient(t, srv)
	ctx := ctxT(t)
	if _, err := c.CreateKey(ctx, "k", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP256)}, nil); err != nil {
		t.Fatal(err)
	}
	stored := srv.AddFaults(t, mhsmtest.FaultRule{Operation: "KeyGet", Status: http.StatusTooManyRequests, RetryAfter: 1, Count: 2})
	if len(stored) != 1 || stored[0].Count != 2 || stored[0].Injected != 0 {
		t.Fatalf("stored rules = %+v", stored)
	}
	start := time.Now()
	if _, err := c.GetKey(ctx, "k", "", nil); err != nil {
		t.Fatalf("GetKey through two injected 429s: %v", err)
	}
	if waited := time.Since(start); waited < 2*time.Second {
		t.Fatalf("the client waited %v: it did not honour Retry-After: 1 twice", waited)
	}
	rules := srv.Faults(t)
	if len(rules) != 1 || rules[0].Injected != 2 || rules[0].Count != 0 {
		t.Fatalf("after the call the rules are %+v, want 2 injected and none left", rules)
	}
	// Exhausted: the next call is not faulted.
	if _, err := c.GetKey(ctx, "k", "", nil); err != nil {
		t.Fatal(err)
	}
	srv.ClearFaults(t)
	if r := srv.Faults(t); len(r) != 0 {
		t.Fatalf("rules after clear: %+v", r)
	}
}

// TestRetryPolicyGivesUpOnInjected500: with more 500s than its retries,
// azcore's retry policy surfaces the 500 after exactly MaxRetries+1
// attempts.
func TestRetryPolicyGivesUpOnInjected500(t *testing.T) {
	srv := mhsmtest.Start(t)
	opts := srv.ClientOptions
	opts.Retry = policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}
	c, err := azkeys.NewClient(srv.HSMURL, srv.Credential, &azkeys.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if _, err := c.CreateKey(ctx, "k", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP256)}, nil); err != nil {
		t.Fatal(err)
	}
	srv.AddFaults(t, mhsmtest.FaultRule{Path: "/keys/*", Status: http.StatusInternalServerError, Count: 10})
	_, err = c.GetKey(ctx, "k", "", nil)
	if statusOf(err) != http.StatusInternalServerError {
		t.Fatalf("GetKey through ten injected 500s: err = %v, want the 500", err)
	}
	rules := srv.Faults(t)
	if len(rules) != 1 || rules[0].Injected != 3 || rules[0].Count != 7 {
		t.Fatalf("rules = %+v, want 3 injected (1 try + 2 retries) and 7 left", rules)
	}
	// A path rule does not match other paths: sign is /keys/k/sign.
	if _, err := c.Sign(ctx, "k", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: make([]byte, 32)}, nil); err != nil {
		t.Fatalf("sign (not matched by /keys/*): %v", err)
	}
}

// TestInjectedLatency: a latency rule delays the request, which then
// succeeds.
func TestInjectedLatency(t *testing.T) {
	srv := mhsmtest.Start(t)
	c := keysClient(t, srv)
	ctx := ctxT(t)
	if _, err := c.CreateKey(ctx, "k", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP256)}, nil); err != nil {
		t.Fatal(err)
	}
	srv.AddFaults(t, mhsmtest.FaultRule{Operation: "keyget", Latency: "300ms", Count: 1})
	start := time.Now()
	if _, err := c.GetKey(ctx, "k", "", nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("GetKey took %v, want at least the injected 300ms", d)
	}
}
