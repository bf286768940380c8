package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/httpapi"
	"github.com/mhsm/mhsm/internal/token"
)

// identity is the identity wiring: revocation through the directory,
// external issuers, signing-key maintenance and the managed identity
// endpoint (a plain-HTTP loopback listener, --msi-addr).
type identity struct {
	issuer   *token.Issuer
	verifier *token.Verifier
	msiLn    net.Listener
	msiSrv   *http.Server
}

// wireIdentity connects the verifier to the directory (disabled and
// deleted principals lose access at once, cached tokens included) and
// trusts the configured external issuers.
func wireIdentity(cfg *config.Server, dir *directory.Directory, issuer *token.Issuer, verifier *token.Verifier) error {
	issuer.SetMaxLifetime(cfg.TokenLifetime)
	verifier.SetPrincipalCheck(dir.Generation, dir.PrincipalActive)
	for _, e := range cfg.ExternalIssuers {
		ext := &token.External{Issuer: e.Issuer, Audience: e.Audience, TenantID: e.TenantID, ObjectIDClaim: e.ObjectIDClaim,
			ExternalTenantID: e.ExternalTenantID, GroupsClaim: e.GroupsClaim, Fetch: jwksFetcher(e)}
		if err := verifier.AddExternal(ext); err != nil {
			return err
		}
	}
	return nil
}

// jwksFetcher reads an external issuer's key set from its configured file
// or URL (bounded size and time; the URL comes from configuration only).
func jwksFetcher(e config.ExternalIssuer) func(ctx context.Context) ([]byte, error) {
	const limit = 1 << 20
	if e.JWKSFile != "" {
		return func(context.Context) ([]byte, error) {
			f, err := os.Open(e.JWKSFile)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return io.ReadAll(io.LimitReader(f, limit))
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	return func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.JWKSURL, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("jwks %s: %s", e.JWKSURL, resp.Status)
		}
		return io.ReadAll(io.LimitReader(resp.Body, limit))
	}
}

// listen binds the managed identity endpoint if configured.
func (id *identity) listen(cfg *config.Server, h *httpapi.Server) error {
	if cfg.MSIAddr == "" {
		return nil
	}
	if id.msiLn == nil { // New binds it first
		ln, err := net.Listen("tcp", cfg.MSIAddr)
		if err != nil {
			return fmt.Errorf("msi listener: %w", err)
		}
		id.msiLn = ln
	}
	id.msiSrv = &http.Server{Handler: h.MSIHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	return nil
}

// MSIAddr is the bound managed identity endpoint address, or nil.
func (a *App) MSIAddr() net.Addr {
	if a.identity.msiLn == nil {
		return nil
	}
	return a.identity.msiLn.Addr()
}

// serve runs the managed identity endpoint and the hourly signing-key
// rotation and refresh-token purge until ctx ends.
func (id *identity) serve(ctx context.Context, maxAge time.Duration) {
	if id.msiSrv != nil {
		go func() {
			if err := id.msiSrv.Serve(id.msiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				slog.Error("msi endpoint stopped", "err", err)
			}
		}()
	}
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if err := id.issuer.Maintain(ctx, maxAge); err != nil && ctx.Err() == nil {
				slog.Error("signing key maintenance", "err", err)
			}
			if err := id.issuer.PurgeRefreshTokens(ctx); err != nil && ctx.Err() == nil {
				slog.Error("refresh token purge", "err", err)
			}
			if err := id.issuer.PurgeCodes(ctx); err != nil && ctx.Err() == nil {
				slog.Error("authorization and device code purge", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (id *identity) close() {
	if id.msiSrv != nil {
		_ = id.msiSrv.Close()
	} else if id.msiLn != nil {
		_ = id.msiLn.Close()
	}
}

// Issuer returns the token issuer (for tests and tools).
func (a *App) Issuer() *token.Issuer { return a.identity.issuer }

// Verifier returns the token verifier (for tests and tools).
func (a *App) Verifier() *token.Verifier { return a.identity.verifier }
