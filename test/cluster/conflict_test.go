package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/wire"
)

// conflictN is how many concurrent conflicting updates each part of
// TestConcurrentConflicts sends, spread over both nodes by conflictWorkers
// clients. MHSM_CLUSTER_CONFLICTS overrides it (it is 1,000 unless set).
func conflictN() int {
	if n, err := strconv.Atoi(os.Getenv("MHSM_CLUSTER_CONFLICTS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

const conflictWorkers = 8

// fanOut runs fn(i) for i in [0, n) on conflictWorkers goroutines and
// returns the statuses, index by index.
func fanOut(n int, fn func(i int) int) []int {
	out := make([]int, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range conflictWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// TestConcurrentConflicts sends conflicting updates through both nodes at
// once. Every answer must be applied (200/201) or a clean conflict
// (409/412) and no acknowledged update may be lost:
//   - tag updates of one key: the tags left are those of an acknowledged
//     update, seen alike through both nodes;
//   - new versions of one key (each a read-modify-write of the key's
//     record and version count) past its 100-version limit: exactly 99
//     acknowledged, all listed;
//   - PUTs of one role assignment name with different scopes: exactly one
//     is created, every other answer is 409, and both nodes show the
//     winner.
func TestConcurrentConflicts(t *testing.T) {
	w := newWorld(t)
	n := conflictN()
	t.Logf("%d concurrent updates per part over 2 nodes, %d clients", n, conflictWorkers)
	clean := func(what string, st int, ok ...int) {
		for _, o := range append(ok, http.StatusConflict, http.StatusPreconditionFailed) {
			if st == o {
				return
			}
		}
		t.Errorf("%s answered %d, want applied or 409/412", what, st)
	}

	t.Run("KeyTags", func(t *testing.T) {
		name := "tags-" + uuid.NewString()[:8]
		w.mustCall(t, 0, "", "POST", "/keys/"+name+"/create?api-version=7.4", ecKey, http.StatusOK)
		acked := map[string]bool{}
		var mu sync.Mutex
		sts := fanOut(n, func(i int) int {
			st, b := w.call(i%2, "", "PATCH", "/keys/"+name+"?api-version=7.4", map[string]any{"tags": map[string]string{"writer": strconv.Itoa(i)}})
			if st == http.StatusOK {
				var kb wire.KeyBundle
				if err := json.Unmarshal(b, &kb); err != nil || kb.Tags["writer"] != strconv.Itoa(i) {
					t.Errorf("update %d acknowledged with tags %v", i, kb.Tags)
				}
				mu.Lock()
				acked[strconv.Itoa(i)] = true
				mu.Unlock()
			}
			return st
		})
		count(t, "tag updates", sts)
		for i, st := range sts {
			clean(fmt.Sprintf("tag update %d", i), st, http.StatusOK)
		}
		var final []string
		for node := range 2 {
			var kb wire.KeyBundle
			if err := json.Unmarshal(w.mustCall(t, node, "", "GET", "/keys/"+name+"?api-version=7.4", nil, http.StatusOK), &kb); err != nil {
				t.Fatal(err)
			}
			final = append(final, kb.Tags["writer"])
		}
		if !acked[final[0]] || final[0] != final[1] {
			t.Fatalf("final tags through the nodes: %q, %q; want one acknowledged writer, the same on both", final[0], final[1])
		}
	})

	t.Run("KeyVersions", func(t *testing.T) {
		// A key holds at most 100 versions: 150 concurrent creations of a
		// new version must leave exactly 100 — 99 acknowledged plus the
		// first — and refuse the rest with the limit's 400. A lost update
		// of the key's record (its version count) shows as more.
		const maxVersions, m = 100, 150
		name := "versions-" + uuid.NewString()[:8]
		w.mustCall(t, 0, "", "POST", "/keys/"+name+"/create?api-version=7.4", ecKey, http.StatusOK)
		acked := map[string]bool{}
		var mu sync.Mutex
		sts := fanOut(m, func(i int) int {
			st, b := w.call(i%2, "", "POST", "/keys/"+name+"/create?api-version=7.4", ecKey)
			switch {
			case st == http.StatusOK:
				var kb wire.KeyBundle
				_ = json.Unmarshal(b, &kb)
				mu.Lock()
				acked[kidPath(kb.Key.Kid)] = true
				mu.Unlock()
			case st == http.StatusBadRequest && strings.Contains(string(b), fmt.Sprintf("maximum of %d versions", maxVersions)):
				st = http.StatusPreconditionFailed // the limit: a clean refusal
			}
			return st
		})
		count(t, "new versions (412 = the 100-version limit)", sts)
		for i, st := range sts {
			clean(fmt.Sprintf("new version %d", i), st, http.StatusOK)
		}
		listed := map[string]bool{}
		for next := "/keys/" + name + "/versions?api-version=7.4&maxresults=25"; next != ""; {
			var page struct {
				Value    []wire.KeyItem `json:"value"`
				NextLink string         `json:"nextLink"`
			}
			if err := json.Unmarshal(w.mustCall(t, 1, "", "GET", next, nil, http.StatusOK), &page); err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Value {
				listed[kidPath(it.Kid)] = true
			}
			next = ""
			if page.NextLink != "" {
				next = page.NextLink[len(w.nodes[1].HSMURL("dev")):]
			}
		}
		for kid := range acked {
			if !listed[kid] {
				t.Errorf("acknowledged version %s is lost", kid)
			}
		}
		if len(acked) != maxVersions-1 || len(listed) != maxVersions {
			t.Errorf("%d versions acknowledged and %d listed, want %d and %d", len(acked), len(listed), maxVersions-1, maxVersions)
		}
	})

	t.Run("RoleAssignmentName", func(t *testing.T) {
		ra := uuid.NewString()
		oid := newPrincipal(t, w)
		path := "/providers/Microsoft.Authorization/roleAssignments/" + ra + "?api-version=7.4"
		sts := fanOut(n, func(i int) int {
			// The scope is the URL's prefix.
			st, _ := w.call(i%2, "", "PUT", fmt.Sprintf("/keys/scope-%d", i)+path, wire.RoleAssignmentCreateParameters{Properties: wire.RoleAssignmentProperties{
				RoleDefinitionID: "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/" + cryptoUser, PrincipalID: oid}})
			return st
		})
		count(t, "role assignment PUTs", sts)
		winner := -1
		for i, st := range sts {
			clean(fmt.Sprintf("PUT %d", i), st, http.StatusCreated, http.StatusOK)
			if st == http.StatusCreated || st == http.StatusOK {
				if winner >= 0 {
					t.Fatalf("PUTs %d and %d (different scopes) were both applied to one assignment name", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no PUT was applied")
		}
		for node := range 2 {
			var got wire.RoleAssignment
			if err := json.Unmarshal(w.mustCall(t, node, "", "GET", fmt.Sprintf("/keys/scope-%d", winner)+path, nil, http.StatusOK), &got); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("/keys/scope-%d", winner); got.Properties.Scope != want {
				t.Fatalf("node %d shows scope %q, want the acknowledged %q", node, got.Properties.Scope, want)
			}
		}
	})
}

// count logs how the answers split.
func count(t *testing.T, what string, sts []int) {
	by := map[int]int{}
	for _, st := range sts {
		by[st]++
	}
	t.Logf("%s: answers by status %v", what, by)
}

// newPrincipal creates a service principal and returns its object id.
func newPrincipal(t *testing.T, w *world) string {
	t.Helper()
	s := w.nodes[0]
	sp, err := s.App.Directory().CreateServicePrincipal(bg, s.Dev.TenantID, "p-"+uuid.NewString()[:8])
	if err != nil {
		t.Fatal(err)
	}
	return sp.ObjectID
}
