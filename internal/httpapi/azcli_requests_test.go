package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/mhsm/mhsm/internal/testserver"
)

// TestAzureCLIRequests replays, byte for byte, requests the Azure CLI
// (2.45) sends that the server once did not handle; test/azcli runs the
// real az.
func TestAzureCLIRequests(t *testing.T) {
	s := testserver.Start(t, nil)
	tok, err := s.Token(s.Dev.ClientID, s.Dev.ClientSecret, "graph")
	if err != nil {
		t.Fatal(err)
	}

	// az ad sp show --id <appId>; az role assignment create --assignee
	// <appId> and az keyvault role assignment create --assignee <appId>
	// resolve the object id the same way.
	st, b, err := s.Call(tok, "GET", s.URL("graph")+"/v1.0/servicePrincipals?$filter=servicePrincipalNames%2Fany%28c%3Ac%20eq%20%27"+
		s.Dev.ClientID+"%27%29", nil)
	if err != nil || st != 200 {
		t.Fatalf("servicePrincipalNames/any filter = %d %s %v", st, b, err)
	}
	var list struct {
		Value []struct {
			ID    string `json:"id"`
			AppID string `json:"appId"`
		} `json:"value"`
	}
	if err := json.Unmarshal(b, &list); err != nil || len(list.Value) != 1 || list.Value[0].AppID != s.Dev.ClientID {
		t.Fatalf("servicePrincipalNames/any filter: %s", b)
	}
}
