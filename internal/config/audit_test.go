package config

import (
	"strings"
	"testing"
)

// TestDestinationScopes: a binding must name a configured destination and a
// subscription or resource group id, once.
func TestDestinationScopes(t *testing.T) {
	const sub = "/subscriptions/0b5e4c1a-7d2f-4e8a-9c3b-5a6d7e8f9a01"
	for _, c := range []struct {
		name   string
		scopes []string
		want   string // "" means valid
	}{
		{"subscription", []string{"logs=" + sub}, ""},
		{"resource group", []string{"logs=" + sub + "/resourceGroups/rg-1"}, ""},
		{"unknown destination", []string{"other=" + sub}, "no destination of that name"},
		{"twice", []string{"logs=" + sub, "logs=" + sub}, "bound twice"},
		{"not a subscription", []string{"logs=/subscriptions/not-a-guid"}, "want NAME=/subscriptions"},
		{"a resource", []string{"logs=" + sub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"}, "want NAME=/subscriptions"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := DefaultAudit()
			a.Destinations = []string{"logs=local:/var/logs"}
			a.DestinationScopes = c.scopes
			errs := a.validate()
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			all := strings.Join(got, "; ")
			if (c.want == "") != (len(errs) == 0) || (c.want != "" && !strings.Contains(all, c.want)) {
				t.Fatalf("errors %q, want %q", all, c.want)
			}
		})
	}
}
