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
	routes := []Route{
		{Method: "POST", Pattern: "/keys/{name}/create", Operation: "KeyCreate", Action: rbac.KeysCreate, KeyScoped: true, Handle: s.keyCreate},
		{Method: "PUT", Pattern: "/keys/{name}", Operation: "KeyImport", Action: rbac.KeysImport, KeyScoped: true, Handle: s.keyImport},
		{Method: "DELETE", Pattern: "/keys/{name}", Operation: "KeyDelete", Action: rbac.KeysDelete, KeyScoped: true, Handle: s.keyDelete},
		{Method: "GET", Pattern: "/keys", Operation: "KeyList", Action: rbac.KeysRead, Handle: s.keyList},
		{Method: "GET", Pattern: "/keys/{name}/versions", Operation: "KeyListVersions", Action: rbac.KeysRead, KeyScoped: true, Handle: s.keyListVersions},
		{Method: "POST", Pattern: "/keys/{name}/backup", Operation: "KeyBackup", Action: rbac.KeysBackup, KeyScoped: true, Handle: s.keyBackup},
		{Method: "POST", Pattern: "/keys/restore", Operation: "KeyRestore", Action: rbac.KeysRestore, BodyLimit: 2*hsm.MaxBackupBytes + 1024, Handle: s.keyRestore},
		{Method: "POST", Pattern: "/keys/{name}/rotate", Operation: "KeyRotate", Action: rbac.KeysRotate, KeyScoped: true, Handle: s.keyRotate},
		{Method: "GET", Pattern: "/keys/{name}/rotationpolicy", Operation: "KeyRotationPolicyGet", Action: rbac.KeysRead, KeyScoped: true, Handle: s.keyRotationPolicyGet},
		{Method: "PUT", Pattern: "/keys/{name}/rotationpolicy", Operation: "KeyRotationPolicySet", Action: rbac.KeysWrite, KeyScoped: true, Handle: s.keyRotationPolicySet},
		{Method: "GET", Pattern: "/deletedkeys", Operation: "DeletedKeyList", Action: rbac.DeletedKeysRead, Handle: s.deletedKeyList},
		{Method: "GET", Pattern: "/deletedkeys/{name}", Operation: "DeletedKeyGet", Action: rbac.DeletedKeysRead, KeyScoped: true, Handle: s.deletedKeyGet},
		{Method: "DELETE", Pattern: "/deletedkeys/{name}", Operation: "DeletedKeyPurge", Action: rbac.DeletedKeysDelete, KeyScoped: true, Handle: s.deletedKeyPurge},
		{Method: "POST", Pattern: "/deletedkeys/{name}/recover", Operation: "DeletedKeyRecover", Action: rbac.DeletedKeysRecover, KeyScoped: true, Handle: s.deletedKeyRecover},
		{Method: "POST", Pattern: "/rng", Operation: "GetRandomBytes", Action: rbac.RNG, Handle: s.randomBytes},
	}
	// Operations on one version; an empty version ("/keys/k//sign" or
	// "/keys/k/sign") means the latest, as the SDKs send it.
	ops := []struct {
		method, op, operation string
		action                rbac.Action
		handle                func(r *Request) (int, any, error)
	}{
		{"GET", "", "KeyGet", rbac.KeysRead, s.keyGet},
		{"PATCH", "", "KeyUpdate", rbac.KeysWrite, s.keyUpdate},
		{"POST", "sign", "KeySign", rbac.KeysSign, s.keySign},
		{"POST", "verify", "KeyVerify", rbac.KeysVerify, s.keyVerify},
		{"POST", "encrypt", "KeyEncrypt", rbac.KeysEncrypt, s.keyEncrypt},
		{"POST", "decrypt", "KeyDecrypt", rbac.KeysDecrypt, s.keyDecrypt},
		{"POST", "wrapkey", "KeyWrap", rbac.KeysWrap, s.keyWrap},
		{"POST", "unwrapkey", "KeyUnwrap", rbac.KeysUnwrap, s.keyUnwrap},
		{"POST", "release", "KeyRelease", rbac.KeysRelease, s.keyRelease},
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

// keyName and keyVersion are the route's {name} and {version}.
func keyName(r *Request) string    { return r.Params["name"] }
func keyVersion(r *Request) string { return r.Params["version"] }

// ok answers 200 with v, or the error.
func ok(v any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

// withBody decodes the request body into a new P and answers with f's
// result (200) or error.
func withBody[P any](r *Request, f func(*P) (any, error)) (int, any, error) {
	p := new(P)
	if err := r.Decode(p); err != nil {
		return 0, nil, err
	}
	return ok(f(p))
}

func (s *Server) keyCreate(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyCreateParameters) (any, error) { return s.hsms.CreateKey(r.Ctx, r.HSM, keyName(r), p) })
}

func (s *Server) keyImport(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyImportParameters) (any, error) { return s.hsms.ImportKey(r.Ctx, r.HSM, keyName(r), p) })
}

func (s *Server) keyDelete(r *Request) (int, any, error) {
	return ok(s.hsms.DeleteKey(r.Ctx, r.HSM, keyName(r)))
}

func (s *Server) keyList(r *Request) (int, any, error) {
	skip, max, err := paging(r)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.hsms.ListKeys(r.Ctx, r.HSM, skip, max)
	return ok(page(r, p.Items, p.Next, max), err)
}

func (s *Server) keyListVersions(r *Request) (int, any, error) {
	skip, max, err := paging(r)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.hsms.ListVersions(r.Ctx, r.HSM, keyName(r), skip, max)
	return ok(page(r, p.Items, p.Next, max), err)
}

func (s *Server) keyBackup(r *Request) (int, any, error) {
	return ok(s.hsms.BackupKey(r.Ctx, r.HSM, keyName(r)))
}

func (s *Server) keyRestore(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyRestoreParameters) (any, error) { return s.hsms.RestoreKey(r.Ctx, r.HSM, p.Value) })
}

func (s *Server) keyRotate(r *Request) (int, any, error) {
	return ok(s.hsms.RotateKey(r.Ctx, r.HSM, keyName(r)))
}

func (s *Server) keyRotationPolicyGet(r *Request) (int, any, error) {
	return ok(s.hsms.GetRotationPolicy(r.Ctx, r.HSM, keyName(r)))
}

func (s *Server) keyRotationPolicySet(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyRotationPolicy) (any, error) {
		return s.hsms.SetRotationPolicy(r.Ctx, r.HSM, keyName(r), p)
	})
}

func (s *Server) deletedKeyList(r *Request) (int, any, error) {
	skip, max, err := paging(r)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.hsms.ListDeletedKeys(r.Ctx, r.HSM, skip, max)
	return ok(page(r, p.Items, p.Next, max), err)
}

func (s *Server) deletedKeyGet(r *Request) (int, any, error) {
	return ok(s.hsms.GetDeletedKey(r.Ctx, r.HSM, keyName(r)))
}

func (s *Server) deletedKeyPurge(r *Request) (int, any, error) {
	if err := s.hsms.PurgeKey(r.Ctx, r.HSM, keyName(r)); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) deletedKeyRecover(r *Request) (int, any, error) {
	return ok(s.hsms.RecoverKey(r.Ctx, r.HSM, keyName(r)))
}

func (s *Server) randomBytes(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.GetRandomBytesRequest) (any, error) { return s.hsms.RandomBytes(p.Count) })
}

func (s *Server) keyGet(r *Request) (int, any, error) {
	return ok(s.hsms.GetKey(r.Ctx, r.HSM, keyName(r), keyVersion(r)))
}

func (s *Server) keyUpdate(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyUpdateParameters) (any, error) {
		return s.hsms.UpdateKey(r.Ctx, r.HSM, keyName(r), keyVersion(r), p)
	})
}

func (s *Server) keySign(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeySignParameters) (any, error) {
		return s.hsms.Sign(r.Ctx, r.HSM, keyName(r), keyVersion(r), p)
	})
}

func (s *Server) keyVerify(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyVerifyParameters) (any, error) {
		return s.hsms.Verify(r.Ctx, r.HSM, keyName(r), keyVersion(r), p)
	})
}

func (s *Server) keyEncrypt(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyOperationsParameters) (any, error) {
		return s.hsms.Encrypt(r.Ctx, r.HSM, keyName(r), keyVersion(r), p)
	})
}

func (s *Server) keyDecrypt(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyOperationsParameters) (any, error) {
		return s.hsms.Decrypt(r.Ctx, r.HSM, keyName(r), keyVersion(r), p)
	})
}

func (s *Server) keyWrap(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyOperationsParameters) (any, error) {
		return s.hsms.WrapKey(r.Ctx, r.HSM, keyName(r), keyVersion(r), p)
	})
}

func (s *Server) keyUnwrap(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyOperationsParameters) (any, error) {
		return s.hsms.UnwrapKey(r.Ctx, r.HSM, keyName(r), keyVersion(r), p)
	})
}

func (s *Server) keyRelease(r *Request) (int, any, error) {
	return withBody(r, func(p *wire.KeyReleaseParameters) (any, error) {
		return s.hsms.ReleaseKey(r.Ctx, r.HSM, keyName(r), keyVersion(r), p)
	})
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
