package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/rbac"
	"github.com/mhsm/mhsm/internal/wire"
)

// keyRoutes is the keys API of Managed HSM (keys.json, 7.6).
func (s *Server) keyRoutes() []Route {
	svc := s.hsms
	name := func(r *Request) string { return r.Params["name"] }
	ver := func(r *Request) string { return r.Params["version"] }
	ok := func(v any, err error) (int, any, error) {
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, v, nil
	}
	decodeThen := func(newV func() any, f func(*Request, any) (any, error)) func(*Request) (int, any, error) {
		return func(r *Request) (int, any, error) {
			v := newV()
			if err := r.Decode(v); err != nil {
				return 0, nil, err
			}
			return ok(f(r, v))
		}
	}
	routes := []Route{
		{Method: "POST", Pattern: "/keys/{name}/create", Operation: "KeyCreate", Action: rbac.KeysCreate, KeyScoped: true,
			Handle: decodeThen(func() any { return &wire.KeyCreateParameters{} }, func(r *Request, v any) (any, error) {
				return svc.CreateKey(r.Ctx, r.HSM, name(r), v.(*wire.KeyCreateParameters))
			})},
		{Method: "PUT", Pattern: "/keys/{name}", Operation: "KeyImport", Action: rbac.KeysImport, KeyScoped: true,
			Handle: decodeThen(func() any { return &wire.KeyImportParameters{} }, func(r *Request, v any) (any, error) {
				return svc.ImportKey(r.Ctx, r.HSM, name(r), v.(*wire.KeyImportParameters))
			})},
		{Method: "DELETE", Pattern: "/keys/{name}", Operation: "KeyDelete", Action: rbac.KeysDelete, KeyScoped: true,
			Handle: func(r *Request) (int, any, error) { return ok(svc.DeleteKey(r.Ctx, r.HSM, name(r))) }},
		{Method: "GET", Pattern: "/keys", Operation: "KeyList", Action: rbac.KeysRead,
			Handle: func(r *Request) (int, any, error) {
				skip, max, err := paging(r)
				if err != nil {
					return 0, nil, err
				}
				p, err := svc.ListKeys(r.Ctx, r.HSM, skip, max)
				return ok(page(r, p.Items, p.Next, max), err)
			}},
		{Method: "GET", Pattern: "/keys/{name}/versions", Operation: "KeyListVersions", Action: rbac.KeysRead, KeyScoped: true,
			Handle: func(r *Request) (int, any, error) {
				skip, max, err := paging(r)
				if err != nil {
					return 0, nil, err
				}
				p, err := svc.ListVersions(r.Ctx, r.HSM, name(r), skip, max)
				return ok(page(r, p.Items, p.Next, max), err)
			}},
		{Method: "POST", Pattern: "/keys/{name}/backup", Operation: "KeyBackup", Action: rbac.KeysBackup, KeyScoped: true,
			Handle: func(r *Request) (int, any, error) { return ok(svc.BackupKey(r.Ctx, r.HSM, name(r))) }},
		{Method: "POST", Pattern: "/keys/restore", Operation: "KeyRestore", Action: rbac.KeysRestore, BodyLimit: 2*hsm.MaxBackupBytes + 1024,
			Handle: decodeThen(func() any { return &wire.KeyRestoreParameters{} }, func(r *Request, v any) (any, error) {
				return svc.RestoreKey(r.Ctx, r.HSM, v.(*wire.KeyRestoreParameters).Value)
			})},
		{Method: "POST", Pattern: "/keys/{name}/rotate", Operation: "KeyRotate", Action: rbac.KeysRotate, KeyScoped: true,
			Handle: func(r *Request) (int, any, error) { return ok(svc.RotateKey(r.Ctx, r.HSM, name(r))) }},
		{Method: "GET", Pattern: "/keys/{name}/rotationpolicy", Operation: "KeyRotationPolicyGet", Action: rbac.KeysRead, KeyScoped: true,
			Handle: func(r *Request) (int, any, error) { return ok(svc.GetRotationPolicy(r.Ctx, r.HSM, name(r))) }},
		{Method: "PUT", Pattern: "/keys/{name}/rotationpolicy", Operation: "KeyRotationPolicySet", Action: rbac.KeysWrite, KeyScoped: true,
			Handle: decodeThen(func() any { return &wire.KeyRotationPolicy{} }, func(r *Request, v any) (any, error) {
				return svc.SetRotationPolicy(r.Ctx, r.HSM, name(r), v.(*wire.KeyRotationPolicy))
			})},
		{Method: "GET", Pattern: "/deletedkeys", Operation: "DeletedKeyList", Action: rbac.DeletedKeysRead,
			Handle: func(r *Request) (int, any, error) {
				skip, max, err := paging(r)
				if err != nil {
					return 0, nil, err
				}
				p, err := svc.ListDeletedKeys(r.Ctx, r.HSM, skip, max)
				return ok(page(r, p.Items, p.Next, max), err)
			}},
		{Method: "GET", Pattern: "/deletedkeys/{name}", Operation: "DeletedKeyGet", Action: rbac.DeletedKeysRead, KeyScoped: true,
			Handle: func(r *Request) (int, any, error) { return ok(svc.GetDeletedKey(r.Ctx, r.HSM, name(r))) }},
		{Method: "DELETE", Pattern: "/deletedkeys/{name}", Operation: "DeletedKeyPurge", Action: rbac.DeletedKeysDelete, KeyScoped: true,
			Handle: func(r *Request) (int, any, error) {
				if err := svc.PurgeKey(r.Ctx, r.HSM, name(r)); err != nil {
					return 0, nil, err
				}
				return http.StatusNoContent, nil, nil
			}},
		{Method: "POST", Pattern: "/deletedkeys/{name}/recover", Operation: "DeletedKeyRecover", Action: rbac.DeletedKeysRecover, KeyScoped: true,
			Handle: func(r *Request) (int, any, error) { return ok(svc.RecoverKey(r.Ctx, r.HSM, name(r))) }},
		{Method: "POST", Pattern: "/rng", Operation: "GetRandomBytes", Action: rbac.RNG,
			Handle: decodeThen(func() any { return &wire.GetRandomBytesRequest{} }, func(r *Request, v any) (any, error) {
				return svc.RandomBytes(v.(*wire.GetRandomBytesRequest).Count)
			})},
	}
	// Operations on one version; an empty version ("/keys/k//sign" or
	// "/keys/k/sign") means the latest, as the SDKs send it.
	type versioned struct {
		method, op, operation string
		action                rbac.Action
		handle                func(r *Request) (int, any, error)
	}
	ops := []versioned{
		{"GET", "", "KeyGet", rbac.KeysRead, func(r *Request) (int, any, error) { return ok(svc.GetKey(r.Ctx, r.HSM, name(r), ver(r))) }},
		{"PATCH", "", "KeyUpdate", rbac.KeysWrite, decodeThen(func() any { return &wire.KeyUpdateParameters{} }, func(r *Request, v any) (any, error) {
			return svc.UpdateKey(r.Ctx, r.HSM, name(r), ver(r), v.(*wire.KeyUpdateParameters))
		})},
		{"POST", "sign", "KeySign", rbac.KeysSign, decodeThen(func() any { return &wire.KeySignParameters{} }, func(r *Request, v any) (any, error) {
			return svc.Sign(r.Ctx, r.HSM, name(r), ver(r), v.(*wire.KeySignParameters))
		})},
		{"POST", "verify", "KeyVerify", rbac.KeysVerify, decodeThen(func() any { return &wire.KeyVerifyParameters{} }, func(r *Request, v any) (any, error) {
			return svc.Verify(r.Ctx, r.HSM, name(r), ver(r), v.(*wire.KeyVerifyParameters))
		})},
		{"POST", "encrypt", "KeyEncrypt", rbac.KeysEncrypt, decodeThen(func() any { return &wire.KeyOperationsParameters{} }, func(r *Request, v any) (any, error) {
			return svc.Encrypt(r.Ctx, r.HSM, name(r), ver(r), v.(*wire.KeyOperationsParameters))
		})},
		{"POST", "decrypt", "KeyDecrypt", rbac.KeysDecrypt, decodeThen(func() any { return &wire.KeyOperationsParameters{} }, func(r *Request, v any) (any, error) {
			return svc.Decrypt(r.Ctx, r.HSM, name(r), ver(r), v.(*wire.KeyOperationsParameters))
		})},
		{"POST", "wrapkey", "KeyWrap", rbac.KeysWrap, decodeThen(func() any { return &wire.KeyOperationsParameters{} }, func(r *Request, v any) (any, error) {
			return svc.WrapKey(r.Ctx, r.HSM, name(r), ver(r), v.(*wire.KeyOperationsParameters))
		})},
		{"POST", "unwrapkey", "KeyUnwrap", rbac.KeysUnwrap, decodeThen(func() any { return &wire.KeyOperationsParameters{} }, func(r *Request, v any) (any, error) {
			return svc.UnwrapKey(r.Ctx, r.HSM, name(r), ver(r), v.(*wire.KeyOperationsParameters))
		})},
		{"POST", "release", "KeyRelease", rbac.KeysRelease, decodeThen(func() any { return &wire.KeyReleaseParameters{} }, func(r *Request, v any) (any, error) {
			return svc.ReleaseKey(r.Ctx, r.HSM, name(r), ver(r), v.(*wire.KeyReleaseParameters))
		})},
	}
	for _, o := range ops {
		for _, pattern := range []string{"/keys/{name}", "/keys/{name}/{version}"} {
			if o.op != "" {
				pattern += "/" + o.op
			}
			routes = append(routes, Route{Method: o.method, Pattern: pattern, Operation: o.operation, Action: o.action, KeyScoped: true, Handle: o.handle})
		}
	}
	return routes
}

// paging reads $skiptoken and maxresults (1..25, default 25).
func paging(r *Request) (string, int, error) {
	max := 25
	if s := r.Query.Get("maxresults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 25 {
			return "", 0, errBadRequest("maxresults must be an integer from 1 to 25.")
		}
		max = n
	}
	return r.Query.Get("$skiptoken"), max, nil
}

// page builds a list response whose nextLink repeats the request with the
// next skip token.
func page[T any](r *Request, items []T, next string, max int) wire.List[T] {
	if items == nil {
		items = []T{}
	}
	out := wire.List[T]{Value: items}
	if next != "" {
		q := url.Values{}
		q.Set("api-version", apiVersion(r.Query))
		q.Set("$skiptoken", next)
		q.Set("maxresults", strconv.Itoa(max))
		link := r.HSM.BaseURL + r.HTTP.URL.Path + "?" + q.Encode()
		out.NextLink = &link
	}
	return out
}

// apiVersion returns the request's api-version (any value is accepted).
func apiVersion(q url.Values) string {
	if v := q.Get("api-version"); v != "" {
		return v
	}
	return "7.6"
}
