package duration

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"30d", 30 * day, true},
		{"2w", 14 * day, true},
		{"1w2d", 9 * day, true},
		{"1d12h", 36 * time.Hour, true},
		{"1d1.5h", day + 90*time.Minute, true},
		{"-1d", -day, true},
		{"+7d", 7 * day, true},
		{"0d", 0, true},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"1d-1h", 0, false},
		{"1d+1h", 0, false},
		{"1dd", 0, false},
		{"1x", 0, false},
		{"", 0, false},
		{"99999999999999999999d", 0, false},
		{"106751d", 106751 * day, true},
		{"106752d", 0, false}, // beyond 292 years
		{"15250w1d", 106751 * day, true},
		{"15250w2d", 0, false},
		{"106751d23h", 106751*day + 23*time.Hour, true},
		{"106751d23h48m", 0, false},
	} {
		got, err := Parse(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"30d", "1w2d3h", "-1d", "1h", "d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		// What Go reads alone, Parse reads alike.
		if g, gerr := time.ParseDuration(s); gerr == nil && g != d {
			t.Fatalf("Parse(%q) = %v, time.ParseDuration %v", s, d, g)
		}
	})
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		90 * 24 * time.Hour: "90d", 24 * time.Hour: "1d", 36 * time.Hour: "36h0m0s", time.Minute: "1m0s", 0: "0s",
	} {
		got := Format(d)
		if got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
		if back, err := Parse(got); err != nil || back != d {
			t.Errorf("Parse(Format(%v)) = %v, %v", d, back, err)
		}
	}
}
