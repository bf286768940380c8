package hsm

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// isoDuration is an ISO 8601 duration such as P90D, P1Y2M or PT12H.
// Hand-rolled: Go's standard library has no ISO 8601 durations and the
// grammar we need (rotation policies) is a dozen lines.
type isoDuration struct {
	years, months, days int
	clock               time.Duration
}

var errDuration = errors.New("not an ISO 8601 duration")

func parseISODuration(s string) (isoDuration, error) {
	var d isoDuration
	if len(s) < 3 || (s[0] != 'P' && s[0] != 'p') {
		return d, errDuration
	}
	s = strings.ToUpper(s[1:])
	inTime := false
	any := false
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime {
				return d, errDuration
			}
			inTime, s = true, s[1:]
			continue
		}
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) || i > 6 {
			return d, errDuration
		}
		n, _ := strconv.Atoi(s[:i])
		unit := s[i]
		s = s[i+1:]
		any = true
		switch {
		case !inTime && unit == 'Y':
			d.years += n
		case !inTime && unit == 'M':
			d.months += n
		case !inTime && unit == 'W':
			d.days += 7 * n
		case !inTime && unit == 'D':
			d.days += n
		case inTime && unit == 'H':
			d.clock += time.Duration(n) * time.Hour
		case inTime && unit == 'M':
			d.clock += time.Duration(n) * time.Minute
		case inTime && unit == 'S':
			d.clock += time.Duration(n) * time.Second
		default:
			return d, errDuration
		}
	}
	if !any {
		return d, errDuration
	}
	return d, nil
}

// after returns t + d.
func (d isoDuration) after(t time.Time) time.Time {
	return t.AddDate(d.years, d.months, d.days).Add(d.clock)
}

// before returns t - d.
func (d isoDuration) before(t time.Time) time.Time {
	return t.AddDate(-d.years, -d.months, -d.days).Add(-d.clock)
}

// atLeast reports whether d is at least days long when counted from t.
func (d isoDuration) atLeast(t time.Time, days int) bool {
	return !d.after(t).Before(t.AddDate(0, 0, days))
}
