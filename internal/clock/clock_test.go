package clock

import (
	"errors"
	"testing"
	"time"
)

func TestFixedClockRefusesAdvance(t *testing.T) {
	c := New(false)
	if _, err := c.Advance(time.Hour); !errors.Is(err, ErrFixed) {
		t.Fatalf("Advance on a fixed clock: err = %v, want ErrFixed", err)
	}
	var nilClock *Clock
	if _, err := nilClock.Advance(time.Hour); !errors.Is(err, ErrFixed) {
		t.Fatalf("Advance on nil: err = %v, want ErrFixed", err)
	}
	if c.Offset() != 0 || nilClock.Offset() != 0 {
		t.Fatal("a fixed clock has an offset")
	}
}

func TestMovableClockAdvances(t *testing.T) {
	c := New(true)
	before := time.Now()
	off, err := c.Advance(30 * 24 * time.Hour)
	if err != nil || off != 30*24*time.Hour {
		t.Fatalf("Advance = %v, %v", off, err)
	}
	if off, _ = c.Advance(time.Hour); off != 30*24*time.Hour+time.Hour {
		t.Fatalf("offsets do not add up: %v", off)
	}
	if got := c.Now().Sub(before); got < 30*24*time.Hour+time.Hour {
		t.Fatalf("Now is only %v ahead", got)
	}
	if _, err := c.Advance(-time.Hour); !errors.Is(err, ErrBackwards) {
		t.Fatalf("negative step: err = %v, want ErrBackwards", err)
	}
}
