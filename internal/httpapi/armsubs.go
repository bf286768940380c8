package httpapi

import (
	"net/http"
	"strings"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/wire"
)

// Visible reports whether the caller holds any assignment at, above or
// below scope.
func (r *ARMRequest) Visible(scope armrbac.Scope) bool { return r.policy.Visible(r.Principal, scope) }

// armSubscriptionRoutes: metadata, tenants, subscriptions, resource groups.
func (s *Server) armSubscriptionRoutes() []ARMRoute {
	const sub, rg = "/subscriptions/{subscriptionId}", "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}"
	return []ARMRoute{
		{Method: "GET", Pattern: "/metadata/endpoints", Operation: "MetadataEndpoints", Public: true, Handle: s.armMetadata},
		{Method: "GET", Pattern: "/tenants", Operation: "TenantsList", AnyCaller: true, Handle: s.armTenants},
		{Method: "GET", Pattern: "/subscriptions", Operation: "SubscriptionsList", AnyCaller: true, Handle: s.armSubscriptions},
		{Method: "GET", Pattern: sub, Operation: "SubscriptionGet", Action: armrbac.SubscriptionsRead, Visible: true, Handle: s.armSubscriptionGet},
		{Method: "GET", Pattern: sub + "/resourcegroups", Operation: "ResourceGroupsList", Action: armrbac.ResourceGroupsRead, Filter: true, Handle: s.armResourceGroups},
		{Method: "PUT", Pattern: rg, Operation: "ResourceGroupCreateOrUpdate", Action: armrbac.ResourceGroupWrite, Handle: s.armResourceGroupPut},
		{Method: "PATCH", Pattern: rg, Operation: "ResourceGroupUpdate", Action: armrbac.ResourceGroupWrite, Handle: s.armResourceGroupPatch},
		{Method: "GET", Pattern: rg, Operation: "ResourceGroupGet", Action: armrbac.ResourceGroupsRead, Handle: s.armResourceGroupGet},
		{Method: "HEAD", Pattern: rg, Operation: "ResourceGroupCheckExistence", Action: armrbac.ResourceGroupsRead, Handle: s.armResourceGroupHead},
		{Method: "DELETE", Pattern: rg, Operation: "ResourceGroupDelete", Action: armrbac.ResourceGroupDel, Also: s.armResourceGroupDeleteChecks, Handle: s.armResourceGroupDelete},
	}
}

// armMetadata answers GET /metadata/endpoints in its older shape, for
// clients that register a cloud from its resource manager alone.
func (s *Server) armMetadata(*ARMRequest) (int, any, error) {
	return http.StatusOK, map[string]any{
		"galleryEndpoint": "", "portalEndpoint": "",
		"graphEndpoint": s.cfg.URL("graph") + "/",
		"authentication": map[string]any{
			"loginEndpoint": s.cfg.URL("login") + "/",
			"audiences":     []string{s.cfg.URL("management") + "/"},
		},
	}, nil
}

func (s *Server) armTenants(r *ARMRequest) (int, any, error) {
	out := wire.Tenant{ID: "/tenants/" + r.Caller.TenantID, TenantID: r.Caller.TenantID, TenantCategory: "Home"}
	if s.dir != nil {
		if t, err := s.dir.Tenant(r.Ctx, r.Caller.TenantID); err == nil {
			out.DisplayName, out.Domains = t.DisplayName, t.Domains
			if len(t.Domains) > 0 {
				out.DefaultDomain = t.Domains[0]
			}
		}
	}
	return http.StatusOK, wire.ARMList[wire.Tenant]{Value: []wire.Tenant{out}}, nil
}

// armSubscriptions lists the caller's tenant's subscriptions in which it
// holds some assignment.
func (s *Server) armSubscriptions(r *ARMRequest) (int, any, error) {
	subs, err := s.mgmt.Subscriptions(r.Ctx, r.Caller.TenantID)
	if err != nil {
		return 0, nil, err
	}
	out := []wire.Subscription{}
	for i := range subs {
		if r.Visible(armrbac.SubscriptionScope(subs[i].ID)) {
			out = append(out, subs[i].Wire())
		}
	}
	return http.StatusOK, wire.ARMList[wire.Subscription]{Value: out}, nil
}

func (s *Server) armSubscriptionGet(r *ARMRequest) (int, any, error) {
	return http.StatusOK, r.Subscription.Wire(), nil
}

func (s *Server) armResourceGroups(r *ARMRequest) (int, any, error) {
	gs, err := s.mgmt.ResourceGroups(r.Ctx, r.Subscription.ID)
	if err != nil {
		return 0, nil, err
	}
	out := []wire.ResourceGroup{}
	for _, g := range gs {
		if r.Can(armrbac.ResourceGroupScope(r.Subscription.ID, g.Name)) {
			out = append(out, g)
		}
	}
	return http.StatusOK, wire.ARMList[wire.ResourceGroup]{Value: out}, nil
}

func (s *Server) armResourceGroupPut(r *ARMRequest) (int, any, error) {
	var in wire.ResourceGroup
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	out, created, err := s.mgmt.PutResourceGroup(r.Ctx, r.Subscription.ID, r.Params["resourceGroupName"], in)
	if err != nil {
		return 0, nil, err
	}
	if created {
		return http.StatusCreated, out, nil
	}
	return http.StatusOK, out, nil
}

func (s *Server) armResourceGroupPatch(r *ARMRequest) (int, any, error) {
	var in wire.ResourceGroup
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Location != "" {
		g, err := s.mgmt.ResourceGroup(r.Ctx, r.Subscription.ID, r.Params["resourceGroupName"])
		if err != nil {
			return 0, nil, err
		}
		if !strings.EqualFold(strings.ReplaceAll(in.Location, " ", ""), g.Location) {
			return 0, nil, &apiError{Status: http.StatusConflict, Code: "InvalidResourceGroupLocation", Message: "The location of a resource group cannot be changed."}
		}
	}
	out, err := s.mgmt.PatchResourceGroup(r.Ctx, r.Subscription.ID, r.Params["resourceGroupName"], in.Tags)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (s *Server) armResourceGroupGet(r *ARMRequest) (int, any, error) {
	out, err := s.mgmt.ResourceGroup(r.Ctx, r.Subscription.ID, r.Params["resourceGroupName"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (s *Server) armResourceGroupHead(r *ARMRequest) (int, any, error) {
	if _, err := s.mgmt.ResourceGroup(r.Ctx, r.Subscription.ID, r.Params["resourceGroupName"]); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// armResourceGroupDeleteChecks: deleting a group deletes its HSMs, so the
// caller must be allowed to delete each.
func (s *Server) armResourceGroupDeleteChecks(r *ARMRequest) ([]ARMCheck, error) {
	rg := r.Params["resourceGroupName"]
	names, err := s.mgmt.HSMsIn(r.Ctx, r.Subscription.ID, rg)
	if err != nil {
		return nil, err
	}
	var out []ARMCheck
	for _, n := range names {
		out = append(out, ARMCheck{Action: armrbac.HSMDelete, Scope: armrbac.HSMScope(r.Subscription.ID, rg, n)})
	}
	return out, nil
}

func (s *Server) armResourceGroupDelete(r *ARMRequest) (int, any, error) {
	found, err := s.mgmt.DeleteResourceGroup(r.Ctx, r.Subscription.ID, r.Params["resourceGroupName"])
	if err != nil {
		return 0, nil, err
	}
	if !found {
		return 0, nil, &apiError{Status: http.StatusNotFound, Code: "ResourceGroupNotFound", Message: "Resource group '" + r.Params["resourceGroupName"] + "' could not be found."}
	}
	return http.StatusOK, nil, nil
}
