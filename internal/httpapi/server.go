package httpapi

import (
	"net"
	"net/http"
	"strings"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/config"
	"github.com/mhsm/mhsm/internal/directory"
	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/mgmt"
	"github.com/mhsm/mhsm/internal/ops"
	"github.com/mhsm/mhsm/internal/throttle"
	"github.com/mhsm/mhsm/internal/token"
)

// Deps are the services the HTTP edge serves.
type Deps struct {
	Config   *config.Server
	HSMs     *hsm.Service
	Dir      *directory.Directory
	Issuer   *token.Issuer
	Verifier *token.Verifier
	// Audit is the audit log (*audit.Log); nil means audit off
	// (benchmarking only): nothing is recorded and nothing fails closed.
	Audit audit.Recorder
	// Metrics records request metrics; nil records nothing.
	Metrics *ops.Metrics
	// Fair shares the machine between callers when it is busy (nil: no
	// fair sharing); PrincipalLimit and HSMLimit are hard caps per caller
	// and per HSM in cost units per second (nil: no cap).
	Fair                     *throttle.Fair
	PrincipalLimit, HSMLimit *throttle.Limiter
	// Mgmt serves management.<domain> and holds the HSMs' network rules;
	// nil means no management plane (and no network rules).
	Mgmt *mgmt.Service
	// Dev adds the /mhsm/dev routes and fault injection (dev.go); nil
	// outside dev mode.
	Dev *Dev
}

// Server is the HTTP handler of every virtual host.
type Server struct {
	cfg      *config.Server
	hsms     *hsm.Service
	dir      *directory.Directory
	issuer   *token.Issuer
	verifier *token.Verifier
	audit    *auditor
	metrics  *ops.Metrics

	fair                     *throttle.Fair
	principalLimit, hsmLimit *throttle.Limiter

	mgmt *mgmt.Service

	// Route tables, one generic router each (route.go), and the planes
	// of the one pipeline (edge.go).
	data         *router[Route]
	arm          *router[ARMRoute]
	graph        *router[graphRoute]
	loginR, msiR *router[loginRoute]
	dataP        *plane[dataState]
	mgmtP        *plane[armTarget]
	graphP       *plane[graphState]
	loginP, msiP *plane[loginState]
	consoleP     *plane[consoleState]

	dev *devEdge // dev.go; nil outside dev mode
}

// New returns the handler.
func New(d Deps) *Server {
	s := &Server{cfg: d.Config, hsms: d.HSMs, dir: d.Dir, issuer: d.Issuer, verifier: d.Verifier,
		metrics: d.Metrics, fair: d.Fair, principalLimit: d.PrincipalLimit, hsmLimit: d.HSMLimit}
	s.audit = newAuditor(s, d.Audit)
	if d.Dev != nil {
		s.dev = &devEdge{Dev: *d.Dev}
	}
	s.mgmt = d.Mgmt
	s.data = newRouter(s.DataRoutes(), dataRouteSpec)
	s.arm = newRouter(s.ARMRoutes(), armRouteSpec)
	s.graph = newRouter(graphRoutes, graphRouteSpec)
	s.loginR = newRouter(loginRoutes(), loginRouteSpec)
	s.msiR = newRouter(msiRoutes(), loginRouteSpec)
	s.dataP, s.mgmtP, s.graphP = s.dataPlane(), s.managementPlane(), s.graphPlane()
	s.loginP, s.msiP = s.loginPlane(), s.msiPlane()
	s.consoleP = s.consolePlane()
	return s
}

// DataRoutes returns the data-plane route table.
func (s *Server) DataRoutes() []Route {
	var rs []Route
	rs = append(rs, s.keyRoutes()...)
	rs = append(rs, s.keyAttestationRoutes()...) // keyattest.go
	rs = append(rs, s.roleRoutes()...)
	rs = append(rs, s.settingRoutes()...)
	rs = append(rs, s.accessRoutes()...)
	rs = append(rs, s.auditRoutes()...)
	rs = append(rs, s.securityDomainRoutes()...)
	rs = append(rs, s.backupRoutes()...)
	rs = append(rs, s.devRoutes()...) // dev.go: nil outside dev mode
	return rs
}

// ServeHTTP dispatches on the Host header to a plane of the one pipeline
// (edge.go): login.<domain>, management.<domain>, graph.<domain>,
// <hsm>.managedhsm.<domain>, console.<domain> (CORS for the console's
// origin on the API hosts: cors.go). Unknown hosts get 404 (not audited).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	svc := s.cfg.Service(host) // config/hostnames.go
	if svc == "console" {
		s.serveConsole(w, r)
		return
	}
	if s.cors(w, r, svc != "") { // cors.go: the console's origin only
		return
	}
	switch svc {
	case "login":
		s.serveLogin(w, r)
		return
	case "management":
		s.serveManagement(w, r)
		return
	case "graph":
		s.serveGraph(w, r)
		return
	case "":
	default:
		s.serveData(w, r, strings.TrimSuffix(svc, ".managedhsm"))
		return
	}
	writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: "Unknown host."}, "-")
}
