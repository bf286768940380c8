package crash

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// The client-side oracle. Each worker owns some keys and the role
// assignments at their scopes, and runs one write at a time, so the
// acknowledged state of everything it owns is known exactly. A write
// without a response (the server was killed) is pending: after the
// restart its effect must be wholly present or wholly absent.

const (
	roleUser    = "21dbd100-6940-42c2-9190-5d6cb909625b" // Managed HSM Crypto User
	roleAuditor = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3" // Managed HSM Crypto Auditor
	roleDefPath = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
	maxVersions = 12 // new versions stop here (the server allows 100)
)

var roles = []string{roleUser, roleAuditor}

// keyState is the state of one key as the oracle knows it.
type keyState struct {
	Exists   bool
	Deleted  bool
	Versions []string // sorted
	Latest   string
}

func (k keyState) String() string {
	switch {
	case !k.Exists:
		return "absent"
	case k.Deleted:
		return fmt.Sprintf("deleted(latest %s, %d versions)", short(k.Latest), len(k.Versions))
	}
	return fmt.Sprintf("active(latest %s, versions %v)", short(k.Latest), shortAll(k.Versions))
}

func short(v string) string {
	if len(v) > 6 {
		return v[:6]
	}
	return v
}

func shortAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = short(v)
	}
	return out
}

// op is one write.
type op struct {
	Kind string // create, version, delete, recover, assign, unassign
	Key  string
	Role string
	ID   string // assignment id
}

// worker owns keys and the assignments (key, role) at their scopes.
type worker struct {
	id      int
	rng     *rand.Rand
	keys    []string
	ec      map[string]bool
	state   map[string]*keyState
	assigns map[string]string // key|role → assignment id
	pending *op
	acked   int
	// Diverged lists acknowledged results the oracle did not predict.
	diverged []string
}

func newWorker(id int, seed uint64) *worker {
	w := &worker{id: id, rng: rand.New(rand.NewPCG(seed, uint64(id))), ec: map[string]bool{},
		state: map[string]*keyState{}, assigns: map[string]string{}}
	for j := range 4 {
		k := fmt.Sprintf("w%d-k%d", id, j)
		w.keys = append(w.keys, k)
		w.ec[k] = j%2 == 0
		w.state[k] = &keyState{}
	}
	return w
}

// next picks the next write for one of the worker's keys.
func (w *worker) next() op {
	k := w.keys[w.rng.IntN(len(w.keys))]
	s := w.state[k]
	role := roles[w.rng.IntN(len(roles))]
	if w.rng.IntN(4) == 0 { // assignments: a quarter of the writes
		if id := w.assigns[k+"|"+role]; id != "" {
			return op{Kind: "unassign", Key: k, Role: role, ID: id}
		}
		return op{Kind: "assign", Key: k, Role: role, ID: uuid.NewString()}
	}
	switch {
	case !s.Exists:
		return op{Kind: "create", Key: k}
	case s.Deleted:
		return op{Kind: "recover", Key: k}
	case len(s.Versions) < maxVersions && w.rng.IntN(3) != 0:
		return op{Kind: "version", Key: k}
	}
	return op{Kind: "delete", Key: k}
}

// principal is the object id role assignments name (the dev principal).
var principal string

// do sends o and, if it is acknowledged, applies it to the oracle. It
// returns false when no response came (o is then pending).
func (w *worker) do(ctx context.Context, p *proc, o op) bool {
	var (
		method, path string
		body         any
	)
	switch o.Kind {
	case "create", "version":
		method, path = "POST", "/keys/"+o.Key+"/create"
		body = map[string]any{"kty": "oct-HSM", "key_size": 256}
		if w.ec[o.Key] {
			body = map[string]any{"kty": "EC-HSM", "crv": "P-256"}
		}
	case "delete":
		method, path = "DELETE", "/keys/"+o.Key
	case "recover":
		method, path = "POST", "/deletedkeys/"+o.Key+"/recover"
	case "assign":
		method, path = "PUT", "/keys/"+o.Key+"/providers/Microsoft.Authorization/roleAssignments/"+o.ID
		body = map[string]any{"properties": map[string]string{"roleDefinitionId": roleDefPath + o.Role, "principalId": principal}}
	case "unassign":
		method, path = "DELETE", "/keys/"+o.Key+"/providers/Microsoft.Authorization/roleAssignments/"+o.ID
	}
	status, b, err := p.call(ctx, method, path, body)
	if err != nil || status >= 500 {
		w.pending = &o
		return false
	}
	if status == 429 {
		return true // throttled: not applied
	}
	if status >= 300 {
		w.diverged = append(w.diverged, fmt.Sprintf("%s %s: %d %s (oracle: %v)", method, path, status, b, w.state[o.Key]))
		return true
	}
	w.acked++
	s := w.state[o.Key]
	switch o.Kind {
	case "create", "version":
		v := versionOf(b)
		s.Exists, s.Deleted, s.Latest = true, false, v
		s.Versions = sortedAdd(s.Versions, v)
	case "delete":
		s.Deleted = true
	case "recover":
		s.Deleted = false
	case "assign":
		w.assigns[o.Key+"|"+o.Role] = o.ID
	case "unassign":
		delete(w.assigns, o.Key+"|"+o.Role)
	}
	return true
}

// versionOf reads the version from a key bundle's kid.
func versionOf(b []byte) string {
	var kb struct {
		Key struct {
			Kid string `json:"kid"`
		} `json:"key"`
	}
	_ = json.Unmarshal(b, &kb)
	return kb.Key.Kid[strings.LastIndexByte(kb.Key.Kid, '/')+1:]
}

func sortedAdd(vs []string, v string) []string {
	if slices.Contains(vs, v) {
		return vs
	}
	vs = append(slices.Clone(vs), v)
	slices.Sort(vs)
	return vs
}

// pathOf strips scheme, host and api-version from a nextLink.
func pathOf(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	q := u.Query()
	q.Del("api-version")
	if len(q) == 0 {
		return u.Path
	}
	return u.Path + "?" + q.Encode()
}
