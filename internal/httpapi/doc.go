// Package httpapi is the HTTP edge of mhsm: the virtual hosts, their route
// tables, the one pipeline every request of every plane passes, and the
// mapping of errors to each plane's JSON error body.
//
// Read edge.go first: serve is the one pipeline — begin (route) → audit
// gate → authenticate → authorize → act → durable audit record → write —
// with one panic recovery, one bearer-token parser and one audit path.
// route.go holds the generic router every plane routes with. Each plane
// supplies its steps in its own file:
//
//   - data.go: <hsm>.managedhsm.<domain> (Route, Request); resources in
//     keys.go, roles.go, settings.go, access.go, securitydomain.go, audit.go;
//   - arm.go: management.<domain> (ARMRoute, ARMRequest); resources in
//     armsubs.go, armhsms.go, armroles.go, armdiag.go;
//   - graph.go: graph.<domain>; routes in graph_routes.go;
//   - login_plane.go: login.<domain> (login.go, grants.go) and the managed
//     identity endpoint (msi.go).
//
// server.go dispatches on the Host header; audit.go and audit_event.go turn
// what the pipeline learnt into audit records; body.go reads and decodes
// request bodies for every plane.
package httpapi
