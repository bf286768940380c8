// Package layering holds no code: its test (layering_test.go) fails when a
// package of mhsm imports what its layer must not, in the spirit of
// tailscale's tstest/deptest. Dependencies point inward: the HTTP edge
// (httpapi) → services (hsm, mgmt, directory, token) → pure packages
// (rbac, keys, store, …); only the composition root's users (cmd/mhsm
// and internal/testserver) import internal/app.
package layering
