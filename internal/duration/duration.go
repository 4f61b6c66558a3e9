// Package duration reads the durations that writ's flags and API take:
// Go's (time.ParseDuration: "90s", "1h30m"), and days and weeks, alone or
// with the others ("30d", "2w", "1d12h"). A day is 24 hours and a week 7
// days: token lifetimes are spans of time, not calendar dates.
package duration

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Parse reads s, which may be negative ("-1d"), as time.ParseDuration
// does, with the units d (24h) and w (7d) besides Go's ns, us, ms, s, m
// and h.
func Parse(s string) (time.Duration, error) {
	if !strings.ContainsAny(s, "dw") {
		return time.ParseDuration(s)
	}
	rest, neg := strings.CutPrefix(s, "-")
	if !neg {
		rest = strings.TrimPrefix(rest, "+")
	}
	var total time.Duration
	for rest != "" {
		// The leading whole number of days or weeks, if the next unit is
		// one of them; else the rest is Go's.
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 || n == len(rest) || (rest[n] != 'd' && rest[n] != 'w') {
			d, err := time.ParseDuration(rest)
			if err != nil || strings.ContainsAny(rest, "+-") {
				return 0, errInvalid(s)
			}
			if total > math.MaxInt64-d {
				return 0, errInvalid(s)
			}
			total += d
			break
		}
		v, err := strconv.ParseInt(rest[:n], 10, 64)
		unit := 24 * time.Hour
		if rest[n] == 'w' {
			unit *= 7
		}
		if err != nil || v > int64((math.MaxInt64-total)/unit) {
			return 0, errInvalid(s)
		}
		total += time.Duration(v) * unit
		rest = rest[n+1:]
	}
	if neg {
		total = -total
	}
	return total, nil
}

func errInvalid(s string) error {
	return errors.New(`time: invalid duration ` + strconv.Quote(s))
}

// Format writes d as Parse reads it: in whole days ("90d") when it is
// whole days, else as time.Duration.String writes it ("36h0m0s").
func Format(d time.Duration) string {
	const day = 24 * time.Hour
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
