package hsm

import (
	"fmt"
	"time"
)

// ISODurationFrom returns how long the ISO 8601 duration s ("P30D",
// "P1M", "PT12H") lasts when counted from t (months and years are
// calendar months and years, as in rotation policies). Dev mode's clock
// advance uses it so "P1M" means what a rotation policy means by it.
func ISODurationFrom(s string, t time.Time) (time.Duration, error) {
	d, err := parseISODuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return d.after(t).Sub(t), nil
}
