package mgmt

import (
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mhsm/mhsm/internal/wire"
)

// Operation statuses.
const (
	OpInProgress = "InProgress"
	OpSucceeded  = "Succeeded"
	OpFailed     = "Failed"
)

// Operation is a long-running management operation, polled through its
// Azure-AsyncOperation URL. Operations live in memory for an hour after
// they end; a restart forgets them (the resource's provisioningState
// stays authoritative).
type Operation struct {
	ID           string
	Subscription string
	Location     string
	Resource     string // resource id the operation acts on
	Kind         string // "create", "delete", "purge", "recover"
	Status       string
	Start, End   time.Time
	Err          *wire.ErrorDetail
}

// Wire is the operation as its status URL shows it.
func (o *Operation) Wire(id string) wire.ARMOperation {
	st := o.Start
	w := wire.ARMOperation{ID: id, Name: o.ID, Status: o.Status, StartTime: &st, Error: o.Err}
	if !o.End.IsZero() {
		e := o.End
		w.EndTime = &e
	}
	return w
}

type operations struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*Operation
}

const opRetention = time.Hour

func newOperations(now func() time.Time) *operations {
	return &operations{now: now, m: map[string]*Operation{}}
}

func (t *operations) start(sub, location, resource, kind string) *Operation {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now().UTC()
	for id, o := range t.m {
		if o.Status != OpInProgress && now.Sub(o.End) > opRetention {
			delete(t.m, id)
		}
	}
	o := &Operation{ID: uuid.NewString(), Subscription: sub, Location: location, Resource: resource, Kind: kind, Status: OpInProgress, Start: now}
	t.m[o.ID] = o
	return o
}

func (t *operations) finish(o *Operation, err *wire.ErrorDetail) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o.End = t.now().UTC()
	if err != nil {
		o.Status, o.Err = OpFailed, err
	} else {
		o.Status = OpSucceeded
	}
}

// get returns a copy of operation id of subscription sub.
func (t *operations) get(sub, id string) (Operation, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.m[id]
	if !ok || !sameName(o.Subscription, sub) {
		return Operation{}, false
	}
	return *o, true
}

// Operation returns operation id of subscription sub.
func (s *Service) Operation(sub, id string) (Operation, bool) { return s.ops.get(sub, id) }

// completed records an operation that finished before its response was
// sent (delete, purge, recover), so clients can poll it like any other.
func (s *Service) completed(sub, location, resource, kind string) *Operation {
	o := s.ops.start(sub, location, resource, kind)
	s.ops.finish(o, nil)
	c := *o
	return &c
}
