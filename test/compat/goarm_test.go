package compat

import (
	"context"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
)

// TestGoManagementAndGraph drives armkeyvault, armauthorization/v2 and
// msgraph-sdk-go with their default endpoints (management.azure.com,
// graph.microsoft.com) and azidentity's default authority; only the
// transport's CA pool is set.
func TestGoManagementAndGraph(t *testing.T) {
	s := server(t)
	rec.setFamily(t, "go")
	co := defaultClientOptions(s)
	cred, err := azidentity.NewClientSecretCredential(s.Dev.TenantID, s.Dev.ClientID, s.Dev.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := &arm.ClientOptions{ClientOptions: co}
	hsms, err := armkeyvault.NewManagedHsmsClient(s.Dev.SubscriptionID, cred, o)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hsms.Get(ctx, s.Dev.ResourceGroup, hsmName, nil)
	if err != nil {
		t.Fatalf("armkeyvault Get: %v", err)
	}
	if h.Properties == nil || h.Properties.HsmURI == nil || *h.Properties.HsmURI != "https://dev.managedhsm.azure.net/" {
		t.Fatalf("hsmUri %v", h.Properties)
	}
	ras, err := armauthorization.NewRoleAssignmentsClient(s.Dev.SubscriptionID, cred, o)
	if err != nil {
		t.Fatal(err)
	}
	pager := ras.NewListForSubscriptionPager(nil)
	n := 0
	for pager.More() {
		p, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("armauthorization list: %v", err)
		}
		n += len(p.Value)
	}
	if n == 0 {
		t.Fatal("no role assignments in the dev subscription (the dev principal is Owner)")
	}
	auth, err := azauth.NewAzureIdentityAuthenticationProvider(cred) // default scope and hosts: graph.microsoft.com
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil,
		&http.Client{Transport: co.Transport.(*http.Client).Transport})
	if err != nil {
		t.Fatal(err)
	}
	gc := msgraph.NewGraphServiceClient(adapter)
	sps, err := gc.ServicePrincipals().Get(ctx, nil)
	if err != nil {
		t.Fatalf("msgraph service principals: %v", err)
	}
	if len(sps.GetValue()) == 0 {
		t.Fatal("graph lists no service principal")
	}
}
