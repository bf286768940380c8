package token_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/token"
)

// TestPKCEVector checks S256 against RFC 7636 Appendix B.
func TestPKCEVector(t *testing.T) {
	const verifier, challenge = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if !token.VerifyPKCE(verifier, challenge) {
		t.Fatal("RFC 7636 vector refused")
	}
	for name, c := range map[string][2]string{
		"other verifier":   {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", challenge},
		"plain":            {challenge, challenge},
		"short verifier":   {"abc", challenge},
		"empty":            {"", ""},
		"padded challenge": {verifier, challenge + "="},
	} {
		if token.VerifyPKCE(c[0], c[1]) {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAuthCodeOnce: a code is redeemed once, and not after it expires.
func TestAuthCodeOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g := token.CodeGrant{TenantID: e.tidA, ObjectID: "u", ClientID: "c", RedirectURI: "https://console.x/callback", Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}
	code, err := e.iss.NewAuthCode(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.iss.RedeemAuthCode(ctx, code)
	if err != nil || got.ObjectID != "u" || got.RedirectURI != g.RedirectURI || got.Challenge != g.Challenge {
		t.Fatalf("redeem: %+v %v", got, err)
	}
	if _, err := e.iss.RedeemAuthCode(ctx, code); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("second redemption: %v", err)
	}
	code, _ = e.iss.NewAuthCode(ctx, g)
	token.SetClock(e.iss, nil, func() time.Time { return time.Now().Add(token.CodeLifetime + time.Second) })
	if _, err := e.iss.RedeemAuthCode(ctx, code); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("expired code: %v", err)
	}
}

// TestDeviceCode: pending until approved with the user code (once, same
// tenant only), then redeemed once; expired after its lifetime.
func TestDeviceCode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dc, uc, err := e.iss.NewDeviceCode(ctx, token.DeviceGrant{TenantID: e.tidA, ClientID: "c", Scope: "s"})
	if err != nil || len(uc) != 9 || uc[4] != '-' {
		t.Fatalf("new: %q %v", uc, err)
	}
	if _, err := e.iss.PollDeviceCode(ctx, dc); !errors.Is(err, token.ErrPending) {
		t.Fatalf("before approval: %v", err)
	}
	if err := e.iss.ApproveDeviceCode(ctx, e.tidB, uc, "u"); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("other tenant approved: %v", err)
	}
	if err := e.iss.ApproveDeviceCode(ctx, e.tidA, strings.ToLower(strings.ReplaceAll(uc, "-", " ")), "u"); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if err := e.iss.ApproveDeviceCode(ctx, e.tidA, uc, "v"); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("second approval: %v", err)
	}
	g, err := e.iss.PollDeviceCode(ctx, dc)
	if err != nil || g.ObjectID != "u" || g.Scope != "s" {
		t.Fatalf("poll: %+v %v", g, err)
	}
	if _, err := e.iss.PollDeviceCode(ctx, dc); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("second redemption: %v", err)
	}
	dc, uc, _ = e.iss.NewDeviceCode(ctx, token.DeviceGrant{TenantID: e.tidA, ClientID: "c"})
	token.SetClock(e.iss, nil, func() time.Time { return time.Now().Add(token.DeviceCodeLifetime + time.Second) })
	if err := e.iss.ApproveDeviceCode(ctx, e.tidA, uc, "u"); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("expired approved: %v", err)
	}
	if _, err := e.iss.PollDeviceCode(ctx, dc); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("expired poll: %v", err)
	}
	if err := e.iss.PurgeCodes(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.PollDeviceCode(ctx, dc); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("after purge: %v", err)
	}
}
