// Package app is mhsm's composition root: configuration → store → services
// → HTTPS server. It is the one place that picks concrete backends, and
// only cmd imports it. Read app.go, then dev.go.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/barrier"
	"github.com/mhsm/mhsm/internal/clock"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/httpapi"
	"github.com/mhsm/mhsm/internal/mgmt"
	"github.com/mhsm/mhsm/internal/ops"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/throttle"
	"github.com/mhsm/mhsm/internal/token"
)

// App is a configured server with its listener bound.
type App struct {
	Config *config.Server
	// CAFile is the absolute path of the CA certificate clients must trust
	// ("" when the operator supplied the certificate).
	CAFile string
	// Dev is set in dev mode once the dev tenant, HSM and principal exist.
	Dev *DevInfo

	st       store.Watchable // store.go
	dir      *directory.Directory
	hsms     *hsm.Service
	mgmt     *mgmt.Service // management.go
	ln       net.Listener
	srv      *http.Server
	metrics  *ops.Metrics
	opsLn    net.Listener
	opsSrv   *http.Server
	tickCtx  context.Context // ends on Close, stopping rotation and purge
	stopTick context.CancelFunc
	identity identity
	clock    *clock.Clock // devclock.go
	sysKey   *barrier.DataKey

	audit       *audit.Log // audit.go; nil when audit is off
	delivery    *audit.Delivery
	resourceIDs *resourceIDs
}

// New opens the data dir, binds the listener and builds every service.
// If cfg.Addr has port 0 the bound port becomes the public port.
func New(ctx context.Context, cfg config.Server) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{Config: &cfg}
	a.tickCtx, a.stopTick = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	// Every listener is bound before anything is written: a failed start
	// (a port in use) leaves no data directory behind.
	var err error
	if a.ln, err = listen(cfg.Addr, "--addr"); err != nil {
		return nil, err
	}
	if cfg.OpsAddr != "" {
		if a.opsLn, err = listen(cfg.OpsAddr, "--ops-addr"); err != nil {
			return nil, err
		}
	}
	if cfg.MSIAddr != "" {
		if a.identity.msiLn, err = listen(cfg.MSIAddr, "--msi-addr"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	rootPath := cfg.RootKeyFile
	var ring *barrier.Keyring
	if rootPath == "" {
		ring, err = barrier.LoadOrCreateRootKey(filepath.Join(cfg.DataDir, "root.key"))
	} else {
		ring, err = barrier.LoadRootKey(rootPath)
	}
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	if a.st, err = openStore(ctx, a.tickCtx, &cfg); err != nil {
		return nil, err
	}
	sysKey, err := systemDataKey(ctx, a.st, ring)
	if err != nil {
		return nil, err
	}
	a.sysKey = sysKey
	cert, caFile, err := loadOrCreateTLS(cfg.DataDir, cfg.ServerNames(), cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	a.CAFile = caFile
	if _, port, _ := net.SplitHostPort(cfg.Addr); port == "0" && cfg.PublicPort == 0 {
		cfg.PublicPort = a.ln.Addr().(*net.TCPAddr).Port
	}
	a.clock = clock.New(cfg.Dev) // devclock.go: the one business clock; only dev mode moves it
	dir := directory.NewWithOptions(a.st, directory.Options{SharedLockout: cfg.Store == config.StoreEtcd})
	dir.SetClock(a.clock.Now)
	a.dir = dir
	issuer := token.NewIssuer(a.st, sysKey)
	loginURL := cfg.URL("login")
	verifier := token.NewVerifier(issuer, func(tid string) string { return httpapi.IssuerURL(loginURL, tid) })
	token.SetClock(issuer, verifier, a.clock.Now)
	a.identity.issuer, a.identity.verifier = issuer, verifier
	if err := wireIdentity(&cfg, dir, issuer, verifier); err != nil {
		return nil, err
	}
	backups, err := backupStorage(&cfg)
	if err != nil {
		return nil, fmt.Errorf("backup storage: %w", err)
	}
	a.hsms, err = hsm.NewService(ctx, a.st, ring, hsm.Options{BaseURL: func(name string) string { return cfg.URL(name + ".managedhsm") }, Principals: principals{dir}, Groups: principals{dir}, Now: a.clock.Now, BackupStorage: backups,
		AllowSecurityDomainRedownload: cfg.AllowSecurityDomainRedownload,
		Attestation:                   attestation{issuer: issuer, issuerOf: func(tid string) string { return httpapi.IssuerURL(loginURL, tid) }}})
	if err != nil {
		return nil, err
	}
	dir.SetMembershipGuard(membershipGuard(a.hsms)) // separation-of-duties guard (groups.go)
	if err := a.openAudit(ctx, &cfg, sysKey); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if a.mgmt, err = newManagement(ctx, a.st, a.hsms, dir, &cfg, a.diagnosticSink()); err != nil {
		return nil, fmt.Errorf("management plane: %w", err)
	}
	if a.resourceIDs != nil {
		lookup := a.mgmt.ResourceID
		a.resourceIDs.lookup.Store(&lookup)
	}
	if cfg.Dev {
		if err := a.seed(ctx, &cfg); err != nil { // devseed.go
			return nil, fmt.Errorf("dev mode seed: %w", err)
		}
		if a.Dev, err = ensureDev(ctx, a.st, sysKey, dir, a.hsms, &cfg, caFile); err != nil {
			return nil, fmt.Errorf("dev mode: %w", err)
		}
		if err := ensureDevManagement(ctx, a.st, a.mgmt, dir, a.Dev); err != nil {
			return nil, fmt.Errorf("dev mode management: %w", err)
		}
		if err := a.devCA(); err != nil { // devca.go
			return nil, fmt.Errorf("dev mode CA export: %w", err)
		}
	}
	a.followStore() // store.go
	a.metrics = ops.NewMetrics()
	if cfg.ThrottleCapacity > 0 || cfg.ThrottleHSMRate > 0 || cfg.ThrottlePrincipalRate > 0 {
		calibrateThrottle()
	}
	handler := httpapi.New(httpapi.Deps{Config: &cfg, HSMs: a.hsms, Dir: dir, Issuer: issuer, Verifier: verifier, Mgmt: a.mgmt, Audit: a.auditRecorder(),
		Metrics: a.metrics, Fair: throttle.NewFair(cfg.ThrottleCapacity), HSMLimit: throttle.New(cfg.ThrottleHSMRate, 2*cfg.ThrottleHSMRate),
		PrincipalLimit: throttle.New(cfg.ThrottlePrincipalRate, 2*cfg.ThrottlePrincipalRate), Dev: a.devDeps()})
	if a.opsLn != nil {
		a.opsSrv = &http.Server{Handler: ops.Handler(a.metrics, map[string]ops.Check{
			"store": func(ctx context.Context) error {
				return a.st.View(ctx, func(tx store.Tx) error { _, err := tx.List("sys/", "", 1); return err })
			},
			// Caches are trusted only while the change feed is caught up.
			"storeFeed": func(context.Context) error { return a.st.Feed().Ready() },
		}), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	}
	if err := a.identity.listen(&cfg, handler); err != nil {
		return nil, err
	}
	a.srv = &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig(cert),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	if cfg.HTTP2 {
		// Offer h2 in ALPN; the Azure SDKs' default transports take it.
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		a.srv.Protocols = &p
		a.srv.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
	}
	ok = true
	return a, nil
}

// listen binds addr, or says in one line which flag's address is taken.
func listen(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		cause := err
		var se *os.SyscallError
		if errors.As(err, &se) {
			cause = se.Err
		}
		return nil, fmt.Errorf("cannot listen on %s (%s): %v", addr, flag, cause)
	}
	return ln, nil
}

// Directory returns the identity directory (for tests and tools).
func (a *App) Directory() *directory.Directory { return a.dir }

// HSMs returns the HSM service (for tests and tools).
func (a *App) HSMs() *hsm.Service { return a.hsms }

// Addr is the bound listen address.
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// Serve serves HTTPS until ctx ends or Close is called. In dev mode it
// writes <data-dir>/dev.json first, once the listener is ready.
func (a *App) Serve(ctx context.Context) error {
	if a.Dev != nil {
		if err := writeDev(a.Dev, filepath.Join(a.Config.DataDir, "dev.json")); err != nil {
			return err
		}
	}
	go a.hsms.Run(a.tickCtx, a.Config.RotationInterval)
	go a.dir.RunLockoutSweeper(a.tickCtx, 5*time.Minute) // etcd only: expired shared counters
	if a.delivery != nil {
		go a.delivery.Run(a.tickCtx)
	}
	a.identity.serve(a.tickCtx, a.Config.SigningKeyMaxAge)
	if a.opsSrv != nil {
		go func() { _ = a.opsSrv.Serve(a.opsLn) }()
	}
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = a.srv.Shutdown(sctx)
	}()
	slog.Info("mhsm serving", "addr", a.ln.Addr().String(), "login", a.Config.URL("login"), "domain", a.Config.Domain)
	err := a.srv.Serve(tls.NewListener(a.ln, a.srv.TLSConfig))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving and closes the store.
func (a *App) Close() error {
	if a.stopTick != nil {
		a.stopTick()
	}
	if a.srv != nil {
		_ = a.srv.Close()
	}
	if a.ln != nil {
		_ = a.ln.Close() // srv.Close only closes listeners Serve was given
	}
	if a.opsSrv != nil {
		_ = a.opsSrv.Close()
	} else if a.opsLn != nil {
		_ = a.opsLn.Close()
	}
	a.identity.close()
	if a.mgmt != nil {
		a.mgmt.Close() // waits for HSMs being provisioned
	}
	a.closeAudit() // final checkpoints, after the last request
	if a.st != nil {
		return a.st.Close()
	}
	return nil
}

// systemDataKey loads (or creates) the data key that seals server-wide
// secrets such as token signing keys.
func systemDataKey(ctx context.Context, st store.Backend, ring *barrier.Keyring) (*barrier.DataKey, error) {
	var wrapped []byte
	err := st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get("sys/datakey")
		if err == nil {
			wrapped = b
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		w, _, err := ring.NewDataKey()
		if err != nil {
			return err
		}
		wrapped = w
		return tx.Put("sys/datakey", w)
	})
	if err != nil {
		return nil, err
	}
	dk, err := ring.OpenDataKey(wrapped)
	if err != nil {
		return nil, fmt.Errorf("system data key does not open with this root key: %w", err)
	}
	return dk, nil
}

// HostsLines returns the /etc/hosts lines that point every mhsm name,
// including the given HSM names, at 127.0.0.1.
func HostsLines(cfg *config.Server, hsmNames []string) string {
	names := []string{cfg.Host("login"), cfg.Host("management"), cfg.Host("graph")}
	for _, n := range hsmNames {
		names = append(names, cfg.Host(n+".managedhsm"))
	}
	return "127.0.0.1 " + strings.Join(names, " ") + "\n"
}

// principals adapts the directory to hsm.PrincipalResolver: any user,
// group or service principal (managed identities are service principals)
// of the tenant may be assigned a role.
type principals struct{ dir *directory.Directory }

func (p principals) PrincipalExists(ctx context.Context, tid, oid string) (bool, error) {
	kind, err := p.dir.ObjectKind(ctx, tid, oid)
	if errors.Is(err, directory.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return kind == directory.KindUser || kind == directory.KindGroup || kind == directory.KindServicePrincipal ||
		kind == directory.KindExternal, nil
}

// calibrateThrottle scales the admission costs to this machine's CPU, once
// per process.
var calibrateThrottle = sync.OnceFunc(func() {
	ms, scale := throttle.Calibrate()
	slog.Info("throttle: costs calibrated to this CPU", "rsa2048SignMs", fmt.Sprintf("%.2f", ms), "scale", fmt.Sprintf("%.2f", scale))
})
