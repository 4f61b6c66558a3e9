package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/writ-dev/writ/internal/duration"
)

// maxDuration bounds the duration flags that have no tighter bound of
// their own: ten years, far beyond any use, and far from overflowing what
// writ adds to them.
const maxDuration = 10 * 365 * 24 * time.Hour

// durationVar defines a duration flag that refuses a negative value or
// one above max: a usage error naming the flag (exit 2).
func durationVar(fl *pflag.FlagSet, p *time.Duration, name string, value, max time.Duration, usage string) {
	*p = value
	fl.Var(&durationValue{p: p, max: max}, name, usage)
}

type durationValue struct {
	p   *time.Duration
	max time.Duration
}

func (v *durationValue) Set(s string) error {
	d, err := duration.Parse(s)
	switch {
	case err != nil:
		return errors.New("want a duration such as 30s, 5m, 24h, 30d or 2w")
	case d < 0:
		return errors.New("must not be negative")
	case d > v.max:
		return fmt.Errorf("must be at most %v", v.max)
	}
	*v.p = d
	return nil
}

func (v *durationValue) String() string { return v.p.String() }

func (v *durationValue) Type() string { return "duration" }

// publishFloor turns a --publish-floor value into keys.Policy.PublishFloor,
// where zero means the default: 0 on the command line means no floor.
func publishFloor(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
