package app

import (
	"context"
	"errors"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mhsm/mhsm/internal/token"
)

// attestation makes mhsm's own token issuer the one trusted attestation
// authority for secure key release: a workload proves what it is with a
// token from https://login.<domain>/<tenant>/v2.0, and release policies name
// that issuer as their authority. Other authorities are not trusted (deny
// by default) until their keys can be configured.
type attestation struct {
	issuer   *token.Issuer
	issuerOf func(tid string) string
}

var errUntrusted = errors.New("attestation: untrusted or invalid token")

func (a attestation) VerifyAttestation(ctx context.Context, raw string) (string, map[string]any, error) {
	if len(raw) > token.MaxTokenBytes {
		return "", nil, errUntrusted
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return "", nil, errUntrusted
	}
	var unverified struct {
		TID string `json:"tid"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.TID == "" {
		return "", nil, errUntrusted
	}
	tid := strings.ToLower(unverified.TID)
	key, err := a.issuer.PublicKey(ctx, tid, tok.Headers[0].KeyID)
	if err != nil {
		return "", nil, errUntrusted
	}
	var std jwt.Claims
	claims := map[string]any{}
	if err := tok.Claims(key, &std, &claims); err != nil {
		return "", nil, errUntrusted
	}
	iss := a.issuerOf(tid)
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: iss, Time: a.issuer.Now()}, token.Leeway); err != nil || std.Expiry == nil {
		return "", nil, errUntrusted
	}
	return iss, claims, nil
}

func (a attestation) SignRelease(ctx context.Context, tid string, payload []byte) (string, error) {
	return a.issuer.SignJWS(ctx, tid, payload)
}
