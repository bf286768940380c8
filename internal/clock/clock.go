// Package clock is the server's one source of business time: the wall
// clock plus an offset. Key nbf/exp checks, rotation and purge schedules,
// token lifetimes and audit record times all read it. Only a clock made
// movable (dev mode, POST /mhsm/dev/clock) can be advanced; the server's
// clock in every other mode is the wall clock. Read clock.go.
package clock

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrFixed is returned by Advance on a clock that is not movable.
var ErrFixed = errors.New("clock: only a dev-mode server's clock can be moved")

// ErrBackwards is returned by Advance for a negative or zero step: time
// only moves forward, so nothing ever sees a record from its future.
var ErrBackwards = errors.New("clock: the clock only moves forward")

// Clock is the wall clock plus an offset. The zero value and nil are the
// wall clock, not movable. Safe for concurrent use.
type Clock struct {
	movable bool
	offset  atomic.Int64 // nanoseconds added to time.Now
}

// New returns a clock at the wall clock; movable allows Advance.
func New(movable bool) *Clock { return &Clock{movable: movable} }

// Now is the wall clock plus the offset.
func (c *Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return time.Now().Add(time.Duration(c.offset.Load()))
}

// Offset is how far Now is ahead of the wall clock.
func (c *Clock) Offset() time.Duration {
	if c == nil {
		return 0
	}
	return time.Duration(c.offset.Load())
}

// Movable reports whether Advance may move the clock.
func (c *Clock) Movable() bool { return c != nil && c.movable }

// Advance moves the clock forward by d and returns the new offset. It
// fails with ErrFixed on a clock that is not movable and ErrBackwards for
// d <= 0.
func (c *Clock) Advance(d time.Duration) (time.Duration, error) {
	if !c.Movable() {
		return 0, ErrFixed
	}
	if d <= 0 {
		return c.Offset(), ErrBackwards
	}
	return time.Duration(c.offset.Add(int64(d))), nil
}
