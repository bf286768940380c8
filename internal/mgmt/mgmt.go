// Package mgmt is mhsm's management plane, the part of Azure Resource
// Manager that Managed HSM needs: subscriptions and resource groups, the
// Microsoft.KeyVault/managedHSMs resource and its lifecycle (long-running
// create, soft delete, purge, recover), management role assignments and
// definitions (decided by package armrbac), diagnostic settings, and the
// network rules the data plane enforces. It knows nothing of HTTP; the
// edge (internal/httpapi, arm*.go) authorizes every request before calling
// it. Read mgmt.go, hsms.go, roles.go, then diagnostics.go.
//
// Management rights and data rights are separate planes: creating an HSM
// makes its initialAdminObjectIds Administrators of its local RBAC, and
// nothing here ever grants access to keys.
package mgmt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/store"
)

// PrincipalKind values, as ARM's principalType names them.
const (
	PrincipalUser             = "User"
	PrincipalGroup            = "Group"
	PrincipalServicePrincipal = "ServicePrincipal"
)

// Directory resolves assignees. PrincipalKind returns PrincipalUser,
// PrincipalGroup or PrincipalServicePrincipal (managed identities are
// service principals) for object oid of tenant tid, or "" with a nil error
// when the tenant has no such principal.
type Directory interface {
	PrincipalKind(ctx context.Context, tid, oid string) (string, error)
}

// Options configures a Service.
type Options struct {
	// HSMURL maps an HSM name to its data-plane URL, with a trailing slash.
	HSMURL func(name string) string
	// Directory validates role assignment principals; nil accepts any GUID.
	Directory Directory
	// Sink receives diagnostic settings; nil means NopSink.
	Sink DiagnosticSink
	// StorageRoot is the local directory standing in for storage accounts:
	// a setting's logs for account A go under StorageRoot/A. Empty means
	// settings carry no StorageDir.
	StorageRoot string
	// StorageAccounts are the operator-configured storage accounts (audit
	// destinations), by lower-case name, each bound to the scope — a
	// subscription or a resource group — whose principals may name it
	// (storage.go). A zero Scope means configured but bound to nothing:
	// no API request can name it.
	StorageAccounts map[string]armrbac.Scope
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is the management plane.
type Service struct {
	st   store.Backend
	hsms *hsm.Service
	o    Options

	mu      sync.Mutex // serialises writes, so compiled snapshots match the store
	policy  atomic.Pointer[armrbac.Policy]
	network atomic.Pointer[map[string]*NetworkRules]
	ops     *operations
	wg      sync.WaitGroup
	closing chan struct{}
}

// New loads the management state kept in st.
func New(ctx context.Context, st store.Backend, hsms *hsm.Service, o Options) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sink == nil {
		o.Sink = NopSink{}
	}
	if o.HSMURL == nil {
		o.HSMURL = func(name string) string { return "https://" + name + "/" }
	}
	s := &Service{st: st, hsms: hsms, o: o, ops: newOperations(o.Now), closing: make(chan struct{})}
	if err := s.recompile(ctx); err != nil {
		return nil, err
	}
	if err := s.reloadNetwork(ctx); err != nil {
		return nil, err
	}
	if err := s.recoverProvisioning(ctx); err != nil {
		return nil, err
	}
	if err := s.replayDiagnostics(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close waits for running operations (HSM provisioning) to finish.
func (s *Service) Close() {
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
	s.wg.Wait()
}

// Policy is the current compiled management policy.
func (s *Service) Policy() *armrbac.Policy { return s.policy.Load() }

// Kind classifies an Error; the HTTP edge maps each kind to one status.
type Kind int

// Error kinds.
const (
	KindBadRequest Kind = iota + 1
	KindNotFound
	KindConflict
	// KindForbidden: the route's action was allowed but a linked resource
	// (a storage account named as a destination) is not the caller's to use.
	KindForbidden
)

// Error is a management error with ARM's code and a public message.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func badRequest(code, format string, a ...any) error {
	return &Error{Kind: KindBadRequest, Code: code, Message: fmt.Sprintf(format, a...)}
}

func notFound(code, format string, a ...any) error {
	return &Error{Kind: KindNotFound, Code: code, Message: fmt.Sprintf(format, a...)}
}

func conflict(code, format string, a ...any) error {
	return &Error{Kind: KindConflict, Code: code, Message: fmt.Sprintf(format, a...)}
}

// IsNotFound reports whether err is a not-found management error.
func IsNotFound(err error) bool {
	e, ok := AsError(err)
	return ok && e.Kind == KindNotFound
}

// Store keys; names are lower-cased where ARM compares case-insensitively.
func subKey(id string) string                { return "mgmt/sub/" + strings.ToLower(id) }
func rgPrefix(sub string) string             { return "mgmt/rg/" + strings.ToLower(sub) + "/" }
func rgKey(sub, rg string) string            { return rgPrefix(sub) + strings.ToLower(rg) }
func hsmKey(name string) string              { return "mgmt/hsm/" + strings.ToLower(name) }
func raKey(name string) string               { return "mgmt/ra/" + strings.ToLower(name) }
func rdKey(id string) string                 { return "mgmt/rd/" + strings.ToLower(id) }
func diagPrefix(hsm string) string           { return "mgmt/diag/" + strings.ToLower(hsm) + "/" }
func diagKey(hsm, name string) string        { return diagPrefix(hsm) + strings.ToLower(name) }
func normLocation(l string) string           { return strings.ToLower(strings.ReplaceAll(l, " ", "")) }
func sameName(a, b string) bool              { return strings.EqualFold(a, b) }
func hsmResourceID(sub, rg, n string) string { return armrbac.HSMScope(sub, rg, n).String() }
