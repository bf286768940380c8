package crash

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// findings counts what a verification found.
type findings struct {
	Lost       []string // an acknowledged write is missing
	Unexpected []string // a state neither acknowledged nor the pending write's
	Half       []string // a write visible but not whole (a version that cannot be read or used)
}

func (f *findings) add(o findings) {
	f.Lost = append(f.Lost, o.Lost...)
	f.Unexpected = append(f.Unexpected, o.Unexpected...)
	f.Half = append(f.Half, o.Half...)
}

func (f *findings) empty() bool { return len(f.Lost)+len(f.Unexpected)+len(f.Half) == 0 }

// observe reads a key's state from the server.
func observe(ctx context.Context, p *proc, key string) (keyState, error) {
	var s keyState
	st, b, err := p.call(ctx, "GET", "/keys/"+key, nil)
	if err != nil {
		return s, err
	}
	switch st {
	case 200:
		s.Exists, s.Latest = true, versionOf(b)
		link := "/keys/" + key + "/versions"
		for link != "" {
			st, b, err := p.call(ctx, "GET", link, nil)
			if err != nil || st != 200 {
				return s, fmt.Errorf("list versions of %s: %d %s %v", key, st, b, err)
			}
			var page struct {
				Value []struct {
					Kid string `json:"kid"`
				} `json:"value"`
				NextLink *string `json:"nextLink"`
			}
			if err := json.Unmarshal(b, &page); err != nil {
				return s, err
			}
			for _, it := range page.Value {
				s.Versions = sortedAdd(s.Versions, it.Kid[strings.LastIndexByte(it.Kid, '/')+1:])
			}
			link = ""
			if page.NextLink != nil {
				link = pathOf(*page.NextLink)
			}
		}
		return s, nil
	case 404:
	default:
		return s, fmt.Errorf("get %s: %d %s", key, st, b)
	}
	st, b, err = p.call(ctx, "GET", "/deletedkeys/"+key, nil)
	switch {
	case err != nil:
		return s, err
	case st == 200:
		s.Exists, s.Deleted, s.Latest = true, true, versionOf(b)
	case st != 404:
		return s, fmt.Errorf("get deleted %s: %d %s", key, st, b)
	}
	return s, nil
}

// sameState compares what both views can see (a deleted key's versions
// cannot be listed).
func sameState(a, b keyState) bool {
	if a.Exists != b.Exists || a.Deleted != b.Deleted || a.Latest != b.Latest {
		return false
	}
	return !a.Exists || a.Deleted || slices.Equal(a.Versions, b.Versions)
}

// checkKey compares a key's observed state with the oracle and adopts it.
func (w *worker) checkKey(ctx context.Context, p *proc, key string) (findings, error) {
	var f findings
	want := *w.state[key]
	got, err := observe(ctx, p, key)
	if err != nil {
		return f, err
	}
	pend := w.pending != nil && w.pending.Key == key
	ok := sameState(want, got)
	if !ok && pend {
		switch w.pending.Kind {
		case "create", "version": // exactly one new version, and it is the latest
			added := slices.DeleteFunc(slices.Clone(got.Versions), func(v string) bool { return slices.Contains(want.Versions, v) })
			ok = got.Exists && !got.Deleted && len(added) == 1 && got.Latest == added[0] &&
				len(got.Versions) == len(want.Versions)+1
		case "delete":
			ok = got.Exists && got.Deleted && got.Latest == want.Latest
		case "recover":
			ok = got.Exists && !got.Deleted && got.Latest == want.Latest && slices.Equal(got.Versions, want.Versions)
		}
	}
	if !ok {
		msg := fmt.Sprintf("%s: oracle %v, pending %v, server %v", key, want, w.pending, got)
		if lostAcked(want, got) {
			f.Lost = append(f.Lost, msg)
		} else {
			f.Unexpected = append(f.Unexpected, msg)
		}
	}
	if got.Deleted && want.Exists { // keep the versions the oracle knows
		got.Versions = want.Versions
	}
	*w.state[key] = got
	f.add(wholeKey(ctx, p, key, got, w.ec[key]))
	return f, nil
}

// lostAcked reports whether an acknowledged key or version is missing.
func lostAcked(want, got keyState) bool {
	if want.Exists && !got.Exists {
		return true
	}
	if got.Exists && !got.Deleted && !want.Deleted {
		for _, v := range want.Versions {
			if !slices.Contains(got.Versions, v) {
				return true
			}
		}
	}
	return false
}

// wholeKey reads every version of an active key and uses it (sign or
// wrap), so a version whose record or sealed material is missing or torn
// shows up.
func wholeKey(ctx context.Context, p *proc, key string, s keyState, ec bool) findings {
	var f findings
	if !s.Exists || s.Deleted {
		return f
	}
	if !slices.Contains(s.Versions, s.Latest) {
		f.Half = append(f.Half, fmt.Sprintf("%s: latest %s is not among its versions", key, short(s.Latest)))
	}
	value := make([]byte, 32)
	_, _ = rand.Read(value)
	for _, v := range s.Versions {
		if st, b, err := p.call(ctx, "GET", "/keys/"+key+"/"+v, nil); err != nil || st != 200 {
			f.Half = append(f.Half, fmt.Sprintf("%s/%s does not read: %d %s %v", key, short(v), st, b, err))
			continue
		}
		path, body := "/keys/"+key+"/"+v+"/wrapkey", map[string]string{"alg": "A256KW", "value": b64(value)}
		if ec {
			path, body = "/keys/"+key+"/"+v+"/sign", map[string]string{"alg": "ES256", "value": b64(value)}
		}
		if st, b, err := p.call(ctx, "POST", path, body); err != nil || st != 200 {
			f.Half = append(f.Half, fmt.Sprintf("%s/%s does not work: %d %s %v", key, short(v), st, b, err))
		}
	}
	return f
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// checkAssignments compares the assignments at each key scope with the
// oracle (acknowledged ones present with their role and principal, no
// others but the pending one) and adopts what the server has.
func (w *worker) checkAssignments(ctx context.Context, p *proc, key string) (findings, error) {
	var f findings
	st, b, err := p.call(ctx, "GET", "/keys/"+key+"/providers/Microsoft.Authorization/roleAssignments", nil)
	if err != nil || st != 200 {
		return f, fmt.Errorf("list assignments at %s: %d %s %v", key, st, b, err)
	}
	var list struct {
		Value []struct {
			Name       string `json:"name"`
			Properties struct {
				Scope            string `json:"scope"`
				RoleDefinitionID string `json:"roleDefinitionId"`
				PrincipalID      string `json:"principalId"`
			} `json:"properties"`
		} `json:"value"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return f, err
	}
	server := map[string]string{}
	for _, a := range list.Value {
		role := a.Properties.RoleDefinitionID[strings.LastIndexByte(a.Properties.RoleDefinitionID, '/')+1:]
		if a.Properties.PrincipalID != principal || a.Properties.Scope != "/keys/"+key {
			f.Unexpected = append(f.Unexpected, fmt.Sprintf("assignment %s at %s has principal %s scope %s", a.Name, key, a.Properties.PrincipalID, a.Properties.Scope))
		}
		server[key+"|"+role] = a.Name
	}
	for _, role := range roles {
		k := key + "|" + role
		want, got := w.assigns[k], server[k]
		pend := w.pending != nil && w.pending.Key == key && w.pending.Role == role &&
			(w.pending.Kind == "assign" && got == w.pending.ID && want == "" || w.pending.Kind == "unassign" && got == "" && want == w.pending.ID)
		if want != got && !pend {
			msg := fmt.Sprintf("assignment %s: oracle %q, pending %v, server %q", k, want, w.pending, got)
			if want != "" {
				f.Lost = append(f.Lost, msg)
			} else {
				f.Unexpected = append(f.Unexpected, msg)
			}
		}
		if got == "" {
			delete(w.assigns, k)
		} else {
			w.assigns[k] = got
		}
	}
	return f, nil
}

// verify checks everything the worker owns after a restart and clears
// its pending write.
func (w *worker) verify(p *proc) (findings, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var f findings
	for _, k := range w.keys {
		kf, err := w.checkKey(ctx, p, k)
		if err != nil {
			return f, err
		}
		f.add(kf)
		af, err := w.checkAssignments(ctx, p, k)
		if err != nil {
			return f, err
		}
		f.add(af)
	}
	w.pending = nil
	return f, nil
}
