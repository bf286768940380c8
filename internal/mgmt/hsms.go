package mgmt

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/hsm"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Provisioning states of an HSM resource.
const (
	StateProvisioning = "Provisioning"
	StateSucceeded    = "Succeeded"
	StateFailed       = "Failed"
)

// HSMType is the ARM resource type.
const HSMType = "Microsoft.KeyVault/managedHSMs"

// Caller is who makes a management request, for systemData.
type Caller struct {
	ObjectID string
	Type     string // "User" or "Application"
}

// hsmResource is an HSM's management record. Whether the HSM is live or
// soft-deleted is the hsm.Service's business; this record outlives a soft
// delete (for deletedManagedHSMs) and is removed by purge.
type hsmResource struct {
	Name                string                  `json:"name"`
	Subscription        string                  `json:"subscriptionId"`
	ResourceGroup       string                  `json:"resourceGroup"`
	Location            string                  `json:"location"`
	Tags                map[string]string       `json:"tags,omitempty"`
	Sku                 wire.ManagedHsmSku      `json:"sku"`
	TenantID            string                  `json:"tenantId"`
	InitialAdmins       []string                `json:"initialAdminObjectIds"`
	SoftDeleteDays      int                     `json:"softDeleteRetentionInDays"`
	PurgeProtection     bool                    `json:"enablePurgeProtection"`
	PublicNetworkAccess string                  `json:"publicNetworkAccess"`
	NetworkACLs         wire.MHSMNetworkRuleSet `json:"networkAcls"`
	ProvisioningState   string                  `json:"provisioningState"`
	StatusMessage       string                  `json:"statusMessage,omitempty"`
	CreatedBy           Caller                  `json:"createdBy"`
	CreatedAt           time.Time               `json:"createdAt"`
	ModifiedBy          Caller                  `json:"modifiedBy"`
	ModifiedAt          time.Time               `json:"modifiedAt"`
}

var hsmNamePattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$`)

// ValidHSMName reports whether n is a legal Managed HSM name: 3 to 24
// letters, digits and single hyphens, starting with a letter and ending
// with a letter or digit.
func ValidHSMName(n string) bool { return hsmNamePattern.MatchString(n) && !strings.Contains(n, "--") }

var skuNames = map[string]string{"standard_b1": "Standard_B1", "custom_b32": "Custom_B32", "custom_b6": "Custom_B6", "custom_c42": "Custom_C42", "custom_c10": "Custom_C10"}

func (s *Service) hsmResources(ctx context.Context) ([]hsmResource, error) {
	var rs []hsmResource
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		rs, err = store.ListJSON[hsmResource](tx, "mgmt/hsm/")
		return err
	})
	return rs, err
}

func getHSMResource(tx store.Tx, name string) (*hsmResource, error) {
	var r hsmResource
	if err := store.GetJSON(tx, hsmKey(name), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Service) loadHSMResource(ctx context.Context, name string) (*hsmResource, error) {
	var r *hsmResource
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = getHSMResource(tx, name)
		return err
	})
	return r, err
}

// isDeleted: a resource that finished provisioning but whose HSM is not live.
func (s *Service) isDeleted(r hsmResource) bool {
	if r.ProvisioningState != StateSucceeded {
		return false
	}
	_, live := s.hsms.Get(r.Name)
	return !live
}

func hsmNotFound(rg, name string) error {
	return notFound("ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found.", HSMType, name, rg)
}

func (r *hsmResource) in(sub, rg string) bool {
	return sameName(r.Subscription, sub) && sameName(r.ResourceGroup, rg)
}

func (s *Service) wireHSM(r *hsmResource) *wire.ManagedHsm {
	id := hsmResourceID(r.Subscription, r.ResourceGroup, r.Name)
	sd := &wire.SecurityDomainProperties{ActivationStatus: "NotActivated",
		ActivationStatusMessage: "The Managed HSM is not activated: download its security domain to activate it."}
	msg := r.StatusMessage
	switch r.ProvisioningState {
	case StateProvisioning:
		msg = "The Managed HSM is being provisioned."
	case StateSucceeded:
		msg = "The Managed HSM is provisioned and ready to use."
	}
	if h, ok := s.hsms.Get(r.Name); ok {
		sd.ActivationStatus, sd.ActivationStatusMessage = h.ActivationStatus()
	}
	acls := r.NetworkACLs
	created, modified := r.CreatedAt, r.ModifiedAt
	return &wire.ManagedHsm{
		ID: id, Name: r.Name, Type: HSMType, Location: r.Location, Sku: &wire.ManagedHsmSku{Family: r.Sku.Family, Name: r.Sku.Name}, Tags: r.Tags,
		SystemData: &wire.SystemData{CreatedBy: r.CreatedBy.ObjectID, CreatedByType: r.CreatedBy.Type, CreatedAt: &created,
			LastModifiedBy: r.ModifiedBy.ObjectID, LastModifiedByType: r.ModifiedBy.Type, LastModifiedAt: &modified},
		Properties: &wire.ManagedHsmProperties{
			TenantID: r.TenantID, InitialAdminObjectIDs: r.InitialAdmins, HsmURI: s.o.HSMURL(strings.ToLower(r.Name)),
			EnableSoftDelete: ptr(true), SoftDeleteRetentionInDays: ptr(r.SoftDeleteDays), EnablePurgeProtection: ptr(r.PurgeProtection),
			StatusMessage: msg, ProvisioningState: r.ProvisioningState, NetworkACLs: &acls, PublicNetworkAccess: r.PublicNetworkAccess,
			Regions:                  []wire.MHSMGeoReplicatedRegion{{Name: r.Location, ProvisioningState: r.ProvisioningState, IsPrimary: true}},
			SecurityDomainProperties: sd,
		},
	}
}

func ptr[T any](v T) *T { return &v }

// GetHSM returns HSM name of resource group rg.
func (s *Service) GetHSM(ctx context.Context, sub, rg, name string) (*wire.ManagedHsm, error) {
	r, err := s.loadHSMResource(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!r.in(sub, rg) || s.isDeleted(*r))) {
		return nil, hsmNotFound(rg, name)
	}
	if err != nil {
		return nil, err
	}
	return s.wireHSM(r), nil
}

// ListHSMs returns the HSMs of subscription sub, or of its resource group
// rg when rg is not "", sorted by name. Soft-deleted HSMs are not listed.
func (s *Service) ListHSMs(ctx context.Context, sub, rg string) ([]wire.ManagedHsm, error) {
	rs, err := s.hsmResources(ctx)
	if err != nil {
		return nil, err
	}
	out := []wire.ManagedHsm{}
	for i := range rs {
		r := &rs[i]
		if !sameName(r.Subscription, sub) || (rg != "" && !sameName(r.ResourceGroup, rg)) || s.isDeleted(*r) {
			continue
		}
		out = append(out, *s.wireHSM(r))
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

// PutHSM creates or updates HSM name in resource group rg of sub. A create
// returns at once with provisioningState Provisioning and the Operation to
// poll; the HSM's data plane goes live (not activated) when it succeeds.
// An update of a live HSM returns the resource and a nil Operation.
func (s *Service) PutHSM(ctx context.Context, by Caller, sub, rg, name string, in wire.ManagedHsm) (*wire.ManagedHsm, *Operation, error) {
	if !ValidHSMName(name) {
		return nil, nil, badRequest("BadRequest", "The managed HSM name '%s' is invalid: use 3 to 24 letters, digits and single hyphens, starting with a letter and ending with a letter or digit.", name)
	}
	if in.Properties == nil {
		return nil, nil, badRequest("BadRequest", "The request must have properties.")
	}
	subscription, err := s.Subscription(ctx, sub)
	if err != nil {
		return nil, nil, err
	}
	if strings.EqualFold(in.Properties.CreateMode, "recover") {
		return s.recoverHSM(ctx, sub, rg, name)
	}
	if err := s.forgetIfPurged(ctx, name); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var existing *hsmResource
	err = s.st.View(ctx, func(tx store.Tx) error {
		if _, err := getRG(tx, sub, rg); err != nil {
			return err
		}
		r, err := getHSMResource(tx, name)
		if err == nil {
			existing = r
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if existing != nil && existing.ProvisioningState != StateFailed {
		switch {
		case s.isDeleted(*existing):
			return nil, nil, conflict("ConflictError", "A managed HSM named '%s' exists in a deleted state. Recover it (createMode recover) or purge it before reusing the name.", name)
		case !existing.in(sub, rg):
			return nil, nil, conflict("ConflictError", "The managed HSM name '%s' is already in use.", name)
		case existing.ProvisioningState == StateProvisioning:
			return nil, nil, conflict("Conflict", "The managed HSM '%s' is being provisioned; retry when provisioning ends.", name)
		}
		return s.updateHSM(ctx, by, existing, in, false)
	}
	if existing != nil && !existing.in(sub, rg) {
		return nil, nil, conflict("ConflictError", "The managed HSM name '%s' is already in use.", name)
	}
	if _, live := s.hsms.Get(name); live {
		return nil, nil, conflict("ConflictError", "The managed HSM name '%s' is already in use.", name)
	}
	if _, err := s.hsms.Deleted(ctx, name); err == nil {
		return nil, nil, conflict("ConflictError", "A managed HSM named '%s' exists in a deleted state. Recover it (createMode recover) or purge it before reusing the name.", name)
	}
	r, err := newHSMResource(by, subscription, rg, name, in, s.o.Now().UTC())
	if err != nil {
		return nil, nil, err
	}
	return s.startCreate(ctx, r)
}

func newHSMResource(by Caller, sub *Subscription, rg, name string, in wire.ManagedHsm, now time.Time) (*hsmResource, error) {
	p := in.Properties
	loc := normLocation(in.Location)
	if loc == "" {
		return nil, badRequest("LocationRequired", "The location property is required for this definition.")
	}
	if in.Sku == nil {
		return nil, badRequest("BadRequest", "The sku property is required: {\"family\": \"B\", \"name\": \"Standard_B1\"}.")
	}
	sku, ok := skuNames[strings.ToLower(in.Sku.Name)]
	fam := strings.ToUpper(in.Sku.Family)
	if !ok || (fam != "B" && fam != "C") {
		return nil, badRequest("BadRequest", "The sku %q/%q is not supported: use family B or C and name Standard_B1, Custom_B32, Custom_B6, Custom_C42 or Custom_C10.", in.Sku.Family, in.Sku.Name)
	}
	if _, err := uuid.Parse(p.TenantID); err != nil || !strings.EqualFold(p.TenantID, sub.TenantID) {
		return nil, badRequest("BadRequest", "properties.tenantId must be the tenant of subscription %s (%s).", sub.ID, sub.TenantID)
	}
	if len(p.InitialAdminObjectIDs) == 0 || len(p.InitialAdminObjectIDs) > 50 {
		return nil, badRequest("BadRequest", "properties.initialAdminObjectIds must name 1 to 50 administrators.")
	}
	var admins []string
	for _, a := range p.InitialAdminObjectIDs {
		u, err := uuid.Parse(a)
		if err != nil {
			return nil, badRequest("BadRequest", "initialAdminObjectIds: %q is not an object id.", a)
		}
		if !slices.Contains(admins, u.String()) {
			admins = append(admins, u.String())
		}
	}
	if p.EnableSoftDelete != nil && !*p.EnableSoftDelete {
		return nil, badRequest("BadRequest", "Soft delete is always on for managed HSMs; enableSoftDelete cannot be false.")
	}
	days := 90
	if p.SoftDeleteRetentionInDays != nil {
		days = *p.SoftDeleteRetentionInDays
	}
	if days < 7 || days > 90 {
		return nil, badRequest("BadRequest", "softDeleteRetentionInDays must be between 7 and 90.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	r := &hsmResource{Name: name, Subscription: sub.ID, ResourceGroup: rg, Location: loc, Tags: in.Tags, Sku: wire.ManagedHsmSku{Family: fam, Name: sku},
		TenantID: sub.TenantID, InitialAdmins: admins, SoftDeleteDays: days, PurgeProtection: p.EnablePurgeProtection != nil && *p.EnablePurgeProtection,
		PublicNetworkAccess: p.PublicNetworkAccess, ProvisioningState: StateProvisioning, CreatedBy: by, CreatedAt: now, ModifiedBy: by, ModifiedAt: now}
	if p.NetworkACLs != nil {
		r.NetworkACLs = *p.NetworkACLs
	}
	if err := checkNetworkProps(&r.PublicNetworkAccess, &r.NetworkACLs); err != nil {
		return nil, err
	}
	return r, nil
}

// startCreate stores r as Provisioning (its network rules in force from
// now on) and creates the HSM in the background. Called with s.mu held.
func (s *Service) startCreate(ctx context.Context, r *hsmResource) (*wire.ManagedHsm, *Operation, error) {
	select {
	case <-s.closing:
		return nil, nil, errors.New("mgmt: shutting down")
	default:
	}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return store.PutJSON(tx, hsmKey(r.Name), r) }); err != nil {
		return nil, nil, err
	}
	if err := s.reloadNetwork(ctx); err != nil {
		return nil, nil, err
	}
	op := s.ops.start(r.Subscription, r.Location, hsmResourceID(r.Subscription, r.ResourceGroup, r.Name), "create")
	snapshot := *op
	s.wg.Add(1)
	go s.provision(*r, op)
	return s.wireHSM(r), &snapshot, nil
}

// provision creates the HSM (not activated: its administrators activate it
// by downloading the security domain) and records the outcome.
func (s *Service) provision(r hsmResource, op *Operation) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := s.hsms.Create(ctx, hsm.CreateParams{Name: r.Name, TenantID: r.TenantID, Admins: r.InitialAdmins,
		SoftDeleteDays: r.SoftDeleteDays, PurgeProtection: r.PurgeProtection, Activated: false})
	var detail *wire.ErrorDetail
	r.ProvisioningState, r.StatusMessage = StateSucceeded, ""
	if err != nil {
		slog.Error("managed HSM provisioning failed", "hsm", r.Name, "err", err)
		r.ProvisioningState, r.StatusMessage = StateFailed, "Provisioning failed."
		detail = &wire.ErrorDetail{Code: "ProvisioningFailed", Message: "The managed HSM could not be provisioned."}
		if errors.Is(err, hsm.ErrExists) || errors.Is(err, hsm.ErrDeleted) {
			detail.Code, detail.Message = "ConflictError", "The managed HSM name '"+r.Name+"' is already in use."
		}
	}
	s.mu.Lock()
	if uerr := s.st.Update(ctx, func(tx store.Tx) error { return store.PutJSON(tx, hsmKey(r.Name), &r) }); uerr != nil {
		slog.Error("recording HSM provisioning state failed", "hsm", r.Name, "err", uerr)
	}
	s.mu.Unlock()
	s.ops.finish(op, detail)
}

// recoverProvisioning settles resources a restart caught provisioning.
func (s *Service) recoverProvisioning(ctx context.Context) error {
	rs, err := s.hsmResources(ctx)
	if err != nil {
		return err
	}
	for i := range rs {
		r := &rs[i]
		if r.ProvisioningState != StateProvisioning {
			continue
		}
		if _, live := s.hsms.Get(r.Name); live {
			r.ProvisioningState = StateSucceeded
		} else {
			r.ProvisioningState, r.StatusMessage = StateFailed, "Provisioning was interrupted by a restart."
		}
		if err := s.st.Update(ctx, func(tx store.Tx) error { return store.PutJSON(tx, hsmKey(r.Name), r) }); err != nil {
			return err
		}
	}
	return nil
}

// PatchHSM updates the mutable properties of a live HSM: tags, purge
// protection (on only), publicNetworkAccess and networkAcls.
func (s *Service) PatchHSM(ctx context.Context, by Caller, sub, rg, name string, in wire.ManagedHsm) (*wire.ManagedHsm, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.loadHSMResource(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!r.in(sub, rg) || s.isDeleted(*r))) {
		return nil, hsmNotFound(rg, name)
	}
	if err != nil {
		return nil, err
	}
	if r.ProvisioningState != StateSucceeded {
		return nil, conflict("Conflict", "The managed HSM '%s' is %s; it can be updated once provisioned.", name, strings.ToLower(r.ProvisioningState))
	}
	out, _, err := s.updateHSM(ctx, by, r, in, true)
	return out, err
}

// updateHSM applies in to live r. Properties absent from in keep their
// value (also for PUT: a firewall is never opened by omission). Called with
// s.mu held.
func (s *Service) updateHSM(ctx context.Context, by Caller, r *hsmResource, in wire.ManagedHsm, patch bool) (*wire.ManagedHsm, *Operation, error) {
	if in.Location != "" && normLocation(in.Location) != r.Location {
		return nil, nil, badRequest("BadRequest", "The location of managed HSM '%s' cannot be changed.", r.Name)
	}
	if in.Sku != nil && (!strings.EqualFold(in.Sku.Name, r.Sku.Name) || !strings.EqualFold(in.Sku.Family, r.Sku.Family)) {
		return nil, nil, badRequest("BadRequest", "The sku of managed HSM '%s' cannot be changed.", r.Name)
	}
	if in.Tags != nil || !patch {
		if err := checkTags(in.Tags); err != nil {
			return nil, nil, err
		}
		if in.Tags != nil {
			r.Tags = in.Tags
		}
	}
	if p := in.Properties; p != nil {
		if p.TenantID != "" && !strings.EqualFold(p.TenantID, r.TenantID) {
			return nil, nil, badRequest("BadRequest", "The tenantId of managed HSM '%s' cannot be changed.", r.Name)
		}
		if p.InitialAdminObjectIDs != nil && !sameSet(p.InitialAdminObjectIDs, r.InitialAdmins) {
			return nil, nil, badRequest("BadRequest", "initialAdminObjectIds cannot be changed after creation; manage administrators with the HSM's local RBAC.")
		}
		if p.SoftDeleteRetentionInDays != nil && *p.SoftDeleteRetentionInDays != r.SoftDeleteDays {
			return nil, nil, badRequest("BadRequest", "softDeleteRetentionInDays cannot be changed after creation.")
		}
		if p.EnableSoftDelete != nil && !*p.EnableSoftDelete {
			return nil, nil, badRequest("BadRequest", "Soft delete is always on for managed HSMs; enableSoftDelete cannot be false.")
		}
		if p.EnablePurgeProtection != nil {
			if !*p.EnablePurgeProtection && r.PurgeProtection {
				return nil, nil, badRequest("BadRequest", "The property \"enablePurgeProtection\" cannot be set to false. Enabling the purge protection for a managed HSM is an irreversible action.")
			}
			if *p.EnablePurgeProtection && !r.PurgeProtection {
				if err := s.hsms.EnablePurgeProtection(ctx, r.Name); err != nil {
					return nil, nil, err
				}
				r.PurgeProtection = true
			}
		}
		access, acls := r.PublicNetworkAccess, r.NetworkACLs
		if p.PublicNetworkAccess != "" {
			access = p.PublicNetworkAccess
		}
		if p.NetworkACLs != nil {
			acls = *p.NetworkACLs
		}
		if err := checkNetworkProps(&access, &acls); err != nil {
			return nil, nil, err
		}
		r.PublicNetworkAccess, r.NetworkACLs = access, acls
	}
	r.ModifiedBy, r.ModifiedAt = by, s.o.Now().UTC()
	if err := s.st.Update(ctx, func(tx store.Tx) error { return store.PutJSON(tx, hsmKey(r.Name), r) }); err != nil {
		return nil, nil, err
	}
	if err := s.reloadNetwork(ctx); err != nil {
		return nil, nil, err
	}
	return s.wireHSM(r), nil, nil
}

func sameSet(a, b []string) bool {
	norm := func(xs []string) []string {
		out := make([]string, 0, len(xs))
		for _, x := range xs {
			out = append(out, strings.ToLower(x))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// DeleteHSM soft-deletes HSM name: its data plane answers 404 at once, and
// it stays recoverable (and its name taken) until purged. A nil Operation
// with a nil error means there was no such HSM.
func (s *Service) DeleteHSM(ctx context.Context, sub, rg, name string) (*Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.loadHSMResource(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!r.in(sub, rg) || s.isDeleted(*r))) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	id := hsmResourceID(r.Subscription, r.ResourceGroup, r.Name)
	switch r.ProvisioningState {
	case StateProvisioning:
		return nil, conflict("Conflict", "The managed HSM '%s' is being provisioned; delete it once provisioning ends.", name)
	case StateFailed:
		if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(hsmKey(name)) }); err != nil {
			return nil, err
		}
		return s.completed(sub, r.Location, id, "delete"), s.reloadNetwork(ctx)
	}
	if _, err := s.hsms.SoftDelete(ctx, name); err != nil {
		return nil, err
	}
	return s.completed(sub, r.Location, id, "delete"), nil
}

// Adopt registers an HSM created outside ARM (dev mode's "dev") as a
// resource of resource group rg, provisioned, with its network open.
func (s *Service) Adopt(ctx context.Context, sub, rg, name, location string, admins []string) error {
	h, ok := s.hsms.Get(name)
	if !ok {
		return hsmNotFound(rg, name)
	}
	subscription, err := s.Subscription(ctx, sub)
	if err != nil {
		return err
	}
	now := s.o.Now().UTC()
	r := &hsmResource{Name: h.Name, Subscription: subscription.ID, ResourceGroup: rg, Location: normLocation(location),
		Sku: wire.ManagedHsmSku{Family: "B", Name: "Standard_B1"}, TenantID: h.TenantID, InitialAdmins: admins, SoftDeleteDays: h.SoftDeleteDays,
		PurgeProtection: h.PurgeProtection, PublicNetworkAccess: "Enabled", NetworkACLs: wire.MHSMNetworkRuleSet{Bypass: "AzureServices", DefaultAction: "Allow"},
		ProvisioningState: StateSucceeded, CreatedAt: now, ModifiedAt: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := getRG(tx, sub, rg); err != nil {
			return err
		}
		if _, err := tx.Get(hsmKey(name)); err == nil {
			return conflict("ConflictError", "The managed HSM '%s' is already a resource.", name)
		}
		return store.PutJSON(tx, hsmKey(name), r)
	})
	if err != nil {
		return err
	}
	return s.reloadNetwork(ctx)
}

// ResourceID returns the ARM id of HSM name
// (/subscriptions/…/resourceGroups/…/providers/Microsoft.KeyVault/managedHSMs/name),
// or false when the management plane does not know it.
func (s *Service) ResourceID(name string) (string, bool) {
	r, err := s.loadHSMResource(context.Background(), strings.ToLower(name))
	if err != nil || r.Subscription == "" {
		return "", false
	}
	return "/subscriptions/" + r.Subscription + "/resourceGroups/" + r.ResourceGroup + "/providers/Microsoft.KeyVault/managedHSMs/" + r.Name, true
}
