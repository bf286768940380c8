package compat

import (
	"net/http"
	"strings"
	"testing"
)

// TestNotUnderstoodDetects: the hook flags what the server answers to
// requests it has no route or method for on every plane, and not a refusal
// of a well-formed request. It asks the suite's server directly; its
// requests are recorded as the "probe" family, which finish and the
// document leave out.
func TestNotUnderstoodDetects(t *testing.T) {
	s := server(t)
	rec.setFamily(t, probeFamily)
	probe := func(method, url string) exchange {
		t.Helper()
		resource := "managedhsm"
		for _, r := range []string{"management", "graph"} {
			if strings.Contains(url, r) {
				resource = r
			}
		}
		tok, err := s.Token(s.Dev.ClientID, s.Dev.ClientSecret, resource)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(method, url, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.all[len(rec.all)-1]
	}
	hsmURL := "https://dev.managedhsm.azure.net"
	for _, c := range []struct {
		method, url string
		want        bool
	}{
		{"GET", hsmURL + "/nosuchthing?api-version=7.4", true},
		{"DELETE", hsmURL + "/keys?api-version=7.4", true},
		{"GET", "https://login.microsoftonline.com/common/nosuch/thing/here", true},
		{"GET", "https://management.azure.com/subscriptions/" + s.Dev.SubscriptionID + "/providers/Microsoft.Nope/things?api-version=2020-01-01", true},
		{"GET", "https://graph.microsoft.com/v1.0/nosuchcollection", true},
		{"GET", hsmURL + "/keys/no-such-key?api-version=7.4", false},
		{"GET", hsmURL + "/keys?api-version=7.4", false},
	} {
		if e := probe(c.method, c.url); notUnderstood(e) != c.want {
			t.Errorf("%s %s -> %d %q: notUnderstood = %v, want %v", c.method, c.url, e.Status, e.Body, !c.want, c.want)
		}
	}
}
