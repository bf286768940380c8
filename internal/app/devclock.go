package app

import (
	"context"

	"github.com/mhsm/mhsm/internal/audit"
	"github.com/mhsm/mhsm/internal/clock"
	"github.com/mhsm/mhsm/internal/httpapi"
)

// Clock is the server's business clock (movable only in dev mode).
func (a *App) Clock() *clock.Clock { return a.clock }

// devDeps is what dev mode adds to the HTTP edge; nil outside dev mode, so
// the /mhsm/dev routes do not exist there.
func (a *App) devDeps() *httpapi.Dev {
	if !a.Config.Dev {
		return nil
	}
	return &httpapi.Dev{Clock: a.clock, Export: a.exportState}
}

// shiftedLog records audit events at the business clock's time: once a
// dev-mode clock has been advanced, every record's time is shifted by the
// offset and carries the property devClockOffset (a Go duration) so a
// reader can tell shifted records from real ones.
type shiftedLog struct {
	*audit.Log
	clk *clock.Clock
}

// Record shifts e (see shiftedLog) and records it.
func (l shiftedLog) Record(ctx context.Context, e *audit.Event) error {
	if off := l.clk.Offset(); off != 0 {
		e.Time = e.Time.Add(off)
		if e.Properties == nil {
			e.Properties = map[string]string{}
		}
		e.Properties["devClockOffset"] = off.String()
	}
	return l.Log.Record(ctx, e)
}
