package mgmt

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/armrbac"
	"github.com/mhsm/mhsm/internal/store"
	"github.com/mhsm/mhsm/internal/wire"
)

// Subscription is a billing and authorization boundary owned by one tenant.
// ARM offers no API to create one; operators create them with
// CreateSubscription (dev mode makes one).
type Subscription struct {
	ID          string    `json:"id"`
	TenantID    string    `json:"tenantId"`
	DisplayName string    `json:"displayName"`
	State       string    `json:"state"`
	Created     time.Time `json:"created"`
}

// Wire is the subscription as GET /subscriptions shows it.
func (s *Subscription) Wire() wire.Subscription {
	return wire.Subscription{ID: "/subscriptions/" + s.ID, SubscriptionID: s.ID, TenantID: s.TenantID, DisplayName: s.DisplayName, State: s.State,
		SubscriptionPolicies: wire.SubscriptionPolicies{LocationPlacementID: "Public_2014-09-01", QuotaID: "mhsm", SpendingLimit: "Off"},
		AuthorizationSource:  "RoleBased"}
}

// CreateSubscription creates a subscription of tenant tid; id "" means a
// fresh GUID. Owners (object ids) get the Owner role on it.
func (s *Service) CreateSubscription(ctx context.Context, tid, displayName, id string, owners ...string) (*Subscription, error) {
	if id == "" {
		id = uuid.NewString()
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, badRequest("InvalidSubscriptionId", "The subscription id %q is not a GUID.", id)
	}
	sub := &Subscription{ID: u.String(), TenantID: strings.ToLower(tid), DisplayName: displayName, State: "Enabled", Created: s.o.Now().UTC()}
	s.mu.Lock()
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(subKey(sub.ID)); err == nil {
			return conflict("SubscriptionExists", "The subscription %s already exists.", sub.ID)
		}
		return store.PutJSON(tx, subKey(sub.ID), sub)
	})
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	scope := armrbac.SubscriptionScope(sub.ID)
	for _, o := range owners {
		if _, err := s.Assign(ctx, scope, armrbac.RoleOwner, o); err != nil {
			return nil, err
		}
	}
	return sub, nil
}

// Subscription returns subscription id.
func (s *Service) Subscription(ctx context.Context, id string) (*Subscription, error) {
	var sub Subscription
	err := s.st.View(ctx, func(tx store.Tx) error { return store.GetJSON(tx, subKey(id), &sub) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("SubscriptionNotFound", "The subscription '%s' could not be found.", id)
	}
	if err != nil {
		return nil, err
	}
	return &sub, nil
}

// Subscriptions returns the subscriptions of tenant tid, sorted by id.
func (s *Service) Subscriptions(ctx context.Context, tid string) ([]Subscription, error) {
	var all []Subscription
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		all, err = store.ListJSON[Subscription](tx, "mgmt/sub/")
		return err
	})
	var out []Subscription
	for _, sub := range all {
		if strings.EqualFold(sub.TenantID, tid) {
			out = append(out, sub)
		}
	}
	return out, err
}

// resourceGroup is a resource group as stored.
type resourceGroup struct {
	Subscription string            `json:"subscriptionId"`
	Name         string            `json:"name"`
	Location     string            `json:"location"`
	Tags         map[string]string `json:"tags,omitempty"`
	ManagedBy    string            `json:"managedBy,omitempty"`
}

func (g *resourceGroup) wire() wire.ResourceGroup {
	return wire.ResourceGroup{ID: armrbac.ResourceGroupScope(g.Subscription, g.Name).String(), Name: g.Name, Type: "Microsoft.Resources/resourceGroups",
		Location: g.Location, ManagedBy: g.ManagedBy, Tags: g.Tags, Properties: &wire.ResourceGroupProperties{ProvisioningState: "Succeeded"}}
}

func rgNotFound(name string) error {
	return notFound("ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
}

func getRG(tx store.Tx, sub, name string) (*resourceGroup, error) {
	var g resourceGroup
	if err := store.GetJSON(tx, rgKey(sub, name), &g); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, rgNotFound(name)
		}
		return nil, err
	}
	return &g, nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > 50 {
		return badRequest("InvalidTag", "A resource can have at most 50 tags.")
	}
	for k, v := range tags {
		if k == "" || len(k) > 512 || len(v) > 256 {
			return badRequest("InvalidTag", "Tag names must have 1 to 512 characters and values at most 256.")
		}
	}
	return nil
}

// PutResourceGroup creates or updates resource group name; created reports
// which. Its location cannot change.
func (s *Service) PutResourceGroup(ctx context.Context, sub, name string, in wire.ResourceGroup) (out *wire.ResourceGroup, created bool, err error) {
	if !armrbac.ValidResourceGroupName(name) {
		return nil, false, badRequest("InvalidResourceGroup", "The resource group name '%s' is invalid: use 1 to 90 letters, digits, '_', '-', '.', '(' and ')', not ending in '.'.", name)
	}
	loc := normLocation(in.Location)
	if loc == "" {
		return nil, false, badRequest("LocationRequired", "The location property is required for this definition.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var g *resourceGroup
	err = s.st.Update(ctx, func(tx store.Tx) error {
		old, err := getRG(tx, sub, name)
		switch {
		case err == nil:
			if old.Location != loc {
				return conflict("InvalidResourceGroupLocation", "Invalid resource group location '%s'. The Resource group already exists in location '%s'.", loc, old.Location)
			}
			old.Tags, old.ManagedBy = in.Tags, in.ManagedBy
			g = old
		case IsNotFound(err):
			created = true
			g = &resourceGroup{Subscription: strings.ToLower(sub), Name: name, Location: loc, Tags: in.Tags, ManagedBy: in.ManagedBy}
		default:
			return err
		}
		return store.PutJSON(tx, rgKey(sub, name), g)
	})
	if err != nil {
		return nil, false, err
	}
	w := g.wire()
	return &w, created, nil
}

// PatchResourceGroup replaces the tags of resource group name.
func (s *Service) PatchResourceGroup(ctx context.Context, sub, name string, tags map[string]string) (*wire.ResourceGroup, error) {
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var g *resourceGroup
	err := s.st.Update(ctx, func(tx store.Tx) error {
		var err error
		if g, err = getRG(tx, sub, name); err != nil {
			return err
		}
		if tags != nil {
			g.Tags = tags
		}
		return store.PutJSON(tx, rgKey(sub, name), g)
	})
	if err != nil {
		return nil, err
	}
	w := g.wire()
	return &w, nil
}

// ResourceGroup returns resource group name.
func (s *Service) ResourceGroup(ctx context.Context, sub, name string) (*wire.ResourceGroup, error) {
	var g *resourceGroup
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		g, err = getRG(tx, sub, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	w := g.wire()
	return &w, nil
}

// ResourceGroups returns the resource groups of sub, sorted by name.
func (s *Service) ResourceGroups(ctx context.Context, sub string) ([]wire.ResourceGroup, error) {
	var gs []resourceGroup
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		gs, err = store.ListJSON[resourceGroup](tx, rgPrefix(sub))
		return err
	})
	out := make([]wire.ResourceGroup, 0, len(gs))
	for i := range gs {
		out = append(out, gs[i].wire())
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, err
}

// HSMsIn returns the names of the HSMs (live or being created) in resource
// group rg: what deleting the group deletes, and what the caller must be
// allowed to delete.
func (s *Service) HSMsIn(ctx context.Context, sub, rg string) ([]string, error) {
	rs, err := s.hsmResources(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rs {
		if sameName(r.Subscription, sub) && sameName(r.ResourceGroup, rg) && !s.isDeleted(r) {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

// DeleteResourceGroup deletes resource group name with everything in it:
// its HSMs are soft-deleted (their names stay taken until purged) and the
// role assignments at or below it are removed. found is false when there
// was no such group.
func (s *Service) DeleteResourceGroup(ctx context.Context, sub, name string) (found bool, err error) {
	if _, err := s.ResourceGroup(ctx, sub, name); err != nil {
		if IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	names, err := s.HSMsIn(ctx, sub, name)
	if err != nil {
		return true, err
	}
	for _, n := range names {
		if _, err := s.DeleteHSM(ctx, sub, name, n); err != nil {
			return true, err
		}
	}
	scope := armrbac.ResourceGroupScope(sub, name)
	if err := s.removeAssignmentsUnder(ctx, scope); err != nil {
		return true, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return true, s.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(rgKey(sub, name)) })
}
