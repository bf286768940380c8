package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/wire"
)

// armHSMRoutes: Microsoft.KeyVault/managedHSMs, deleted HSMs, name
// availability and operation results.
func (s *Server) armHSMRoutes() []ARMRoute {
	const (
		kv   = "/subscriptions/{subscriptionId}/providers/Microsoft.KeyVault"
		rgkv = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.KeyVault"
		hsm  = rgkv + "/managedHSMs/{hsm}"
		del  = kv + "/locations/{location}/deletedManagedHSMs/{name}"
	)
	return []ARMRoute{
		{Method: "PUT", Pattern: hsm, Operation: "ManagedHsmCreateOrUpdate", Action: armrbac.HSMWrite, Handle: s.armHSMPut},
		{Method: "PATCH", Pattern: hsm, Operation: "ManagedHsmUpdate", Action: armrbac.HSMWrite, Handle: s.armHSMPatch},
		{Method: "GET", Pattern: hsm, Operation: "ManagedHsmGet", Action: armrbac.HSMRead, Handle: s.armHSMGet},
		{Method: "DELETE", Pattern: hsm, Operation: "ManagedHsmDelete", Action: armrbac.HSMDelete, Handle: s.armHSMDelete},
		{Method: "GET", Pattern: rgkv + "/managedHSMs", Operation: "ManagedHsmListByResourceGroup", Action: armrbac.HSMRead, Filter: true, Handle: s.armHSMList},
		{Method: "GET", Pattern: kv + "/managedHSMs", Operation: "ManagedHsmListBySubscription", Action: armrbac.HSMRead, Filter: true, Handle: s.armHSMList},
		{Method: "GET", Pattern: kv + "/deletedManagedHSMs", Operation: "DeletedManagedHsmList", Action: armrbac.DeletedHSMsRead, Handle: s.armDeletedList},
		{Method: "GET", Pattern: del, Operation: "DeletedManagedHsmGet", Action: armrbac.DeletedHSMRead, Handle: s.armDeletedGet},
		{Method: "POST", Pattern: del + "/purge", Operation: "DeletedManagedHsmPurge", Action: armrbac.DeletedHSMPurge, Handle: s.armDeletedPurge},
		{Method: "POST", Pattern: kv + "/checkMhsmNameAvailability", Operation: "ManagedHsmCheckNameAvailability", Action: armrbac.HSMNameAvailability, Handle: s.armCheckName},
		{Method: "GET", Pattern: kv + "/locations/{location}/managedHsmOperationResults/{operationId}", Operation: "ManagedHsmOperationResult",
			Action: armrbac.HSMOperationRead, Scope: s.operationScope, Handle: s.armOperation},
	}
}

// operationScope authorizes polling at the scope of the resource the
// operation acts on, so whoever may act on an HSM may follow the action.
func (s *Server) operationScope(p Params) (armrbac.Scope, error) {
	if s.mgmt != nil {
		if op, ok := s.mgmt.Operation(p["subscriptionId"], p["operationId"]); ok {
			if sc, err := armrbac.ParseScope(op.Resource); err == nil {
				return sc, nil
			}
		}
	}
	return armrbac.ParseScope("/subscriptions/" + p["subscriptionId"])
}

func (s *Server) armHSMPut(r *ARMRequest) (int, any, error) {
	var in wire.ManagedHsm
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	out, op, err := s.mgmt.PutHSM(r.Ctx, r.By(), r.Subscription.ID, r.Params["resourceGroupName"], r.Params["hsm"], in)
	if err != nil {
		return 0, nil, err
	}
	if op == nil {
		return http.StatusOK, out, nil
	}
	s.asyncHeaders(r.Header, op, r.Query.Get("api-version"))
	return http.StatusAccepted, out, nil
}

func (s *Server) armHSMPatch(r *ARMRequest) (int, any, error) {
	var in wire.ManagedHsm
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	out, err := s.mgmt.PatchHSM(r.Ctx, r.By(), r.Subscription.ID, r.Params["resourceGroupName"], r.Params["hsm"], in)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (s *Server) armHSMGet(r *ARMRequest) (int, any, error) {
	out, err := s.mgmt.GetHSM(r.Ctx, r.Subscription.ID, r.Params["resourceGroupName"], r.Params["hsm"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func (s *Server) armHSMDelete(r *ARMRequest) (int, any, error) {
	op, err := s.mgmt.DeleteHSM(r.Ctx, r.Subscription.ID, r.Params["resourceGroupName"], r.Params["hsm"])
	if err != nil {
		return 0, nil, err
	}
	if op == nil {
		return http.StatusNoContent, nil, nil
	}
	s.asyncHeaders(r.Header, op, r.Query.Get("api-version"))
	return http.StatusAccepted, nil, nil
}

// armHSMList lists the HSMs of a subscription or resource group that the
// caller may read.
func (s *Server) armHSMList(r *ARMRequest) (int, any, error) {
	rg := r.Params["resourceGroupName"]
	if rg != "" {
		if _, err := s.mgmt.ResourceGroup(r.Ctx, r.Subscription.ID, rg); err != nil {
			return 0, nil, err
		}
	}
	hs, err := s.mgmt.ListHSMs(r.Ctx, r.Subscription.ID, rg)
	if err != nil {
		return 0, nil, err
	}
	out := []wire.ManagedHsm{}
	for _, h := range hs {
		if r.Can(armrbac.HSMScope(r.Subscription.ID, resourceGroupOf(h.ID), h.Name)) {
			out = append(out, h)
		}
	}
	return http.StatusOK, armPage(r, out), nil
}

// resourceGroupOf extracts the resource group name from a resource id.
func resourceGroupOf(id string) string {
	sc, err := armrbac.ParseScope(id)
	if err != nil {
		return ""
	}
	return sc.ResourceGroup
}

// armPage applies $top and $skiptoken (an offset) to a list.
func armPage[T any](r *ARMRequest, items []T) wire.ARMList[T] {
	skip, _ := strconv.Atoi(r.Query.Get("$skiptoken"))
	if skip < 0 || skip > len(items) {
		skip = len(items)
	}
	items = items[skip:]
	top, err := strconv.Atoi(r.Query.Get("$top"))
	if err != nil || top <= 0 || top >= len(items) {
		return wire.ARMList[T]{Value: items}
	}
	q := url.Values{}
	for k, v := range r.Query {
		q[k] = v
	}
	q.Set("$skiptoken", strconv.Itoa(skip+top))
	next := "https://" + r.HTTP.Host + r.HTTP.URL.Path + "?" + q.Encode()
	return wire.ARMList[T]{Value: items[:top], NextLink: next}
}

func (s *Server) armDeletedList(r *ARMRequest) (int, any, error) {
	ds, err := s.mgmt.DeletedHSMs(r.Ctx, r.Subscription.ID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, armPage(r, ds), nil
}

func (s *Server) armDeletedGet(r *ARMRequest) (int, any, error) {
	d, err := s.mgmt.DeletedHSM(r.Ctx, r.Subscription.ID, r.Params["location"], r.Params["name"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

func (s *Server) armDeletedPurge(r *ARMRequest) (int, any, error) {
	op, err := s.mgmt.PurgeHSM(r.Ctx, r.Subscription.ID, r.Params["location"], r.Params["name"])
	if err != nil {
		return 0, nil, err
	}
	s.asyncHeaders(r.Header, op, r.Query.Get("api-version"))
	return http.StatusAccepted, nil, nil
}

func (s *Server) armCheckName(r *ARMRequest) (int, any, error) {
	var in wire.CheckMhsmNameAvailabilityParameters
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	out, err := s.mgmt.CheckName(r.Ctx, in.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// armOperation is an Azure-AsyncOperation status URL: 202 while the
// operation runs, 200 once it ended.
func (s *Server) armOperation(r *ARMRequest) (int, any, error) {
	op, ok := s.mgmt.Operation(r.Subscription.ID, r.Params["operationId"])
	if !ok {
		return 0, nil, &apiError{Status: http.StatusNotFound, Code: "OperationNotFound", Message: "The operation was not found or has expired."}
	}
	out := op.Wire(r.HTTP.URL.Path)
	if op.Status == "InProgress" {
		r.Header.Set("Retry-After", "1")
		r.Header.Set("Retry-After-Ms", "100")
		return http.StatusAccepted, out, nil
	}
	return http.StatusOK, out, nil
}
