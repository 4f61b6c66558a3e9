package usage

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	uses := []Use{
		{JTI: "abc", At: at, Client: netip.MustParseAddr("203.0.113.9"), Outcome: Accepted},
		{JTI: "d\"e", At: at.Add(time.Second), Outcome: Revoked},
		{JTI: "f", At: at, Client: netip.MustParseAddr("2001:db8::1"), Outcome: "custom_reason9"},
	}
	body := Append(nil, uses)
	want := `{"uses":[{"jti":"abc","at":"2026-11-30T12:00:00Z","client_ip":"203.0.113.9","outcome":"accepted"},` +
		`{"jti":"d\"e","at":"2026-11-30T12:00:01Z","outcome":"revoked"},` +
		`{"jti":"f","at":"2026-11-30T12:00:00Z","client_ip":"2001:db8::1","outcome":"custom_reason9"}]}`
	if string(body) != want {
		t.Fatalf("Append:\n%s\nwant\n%s", body, want)
	}
	got, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, uses) {
		t.Fatalf("Parse: %+v, want %+v", got, uses)
	}
	if got, err := Parse([]byte(`{"uses":[]}`)); err != nil || len(got) != 0 {
		t.Fatalf("empty report: %v, %v", got, err)
	}
}

// TestParseLongest: MaxUses uses of the longest jti that needs the most
// escaping, and the longest outcome, fit in MaxBody.
func TestParseLongest(t *testing.T) {
	u := Use{JTI: strings.Repeat("<", MaxJTI), At: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		Client: netip.MustParseAddr("2001:db8:1234:5678:9abc:def0:1234:5678"), Outcome: strings.Repeat("a", MaxOutcome)}
	uses := make([]Use, MaxUses)
	for i := range uses {
		uses[i] = u
	}
	body := Append(nil, uses)
	if got, err := Parse(body); err != nil || len(got) != MaxUses {
		t.Fatalf("Parse of %d bytes: %d uses, %v", len(body), len(got), err)
	}
}

func TestParseLowercaseTime(t *testing.T) {
	got, err := Parse([]byte(`{"uses":[{"jti":"a","at":"2026-11-30t12:00:00z","outcome":"accepted"}]}`))
	if err != nil || !got[0].At.Equal(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("Parse: %v, %v", got, err)
	}
}

func TestParseMapped(t *testing.T) {
	got, err := Parse([]byte(`{"uses":[{"jti":"a","at":"2026-11-30T12:00:00+01:00","client_ip":"::ffff:192.0.2.1","outcome":"ip"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Client != netip.MustParseAddr("192.0.2.1") || !got[0].At.Equal(time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v", got[0])
	}
}

func TestParseRefuses(t *testing.T) {
	use := func(members string) string { return `{"uses":[{` + members + `}]}` }
	ok := `"jti":"a","at":"2026-11-30T12:00:00Z","outcome":"accepted"`
	for name, body := range map[string]string{
		"empty":              ``,
		"not an object":      `[]`,
		"no uses":            `{}`,
		"uses not array":     `{"uses":{}}`,
		"other member":       `{"uses":[],"x":1}`,
		"duplicate uses":     `{"uses":[],"uses":[]}`,
		"use not object":     `{"uses":[1]}`,
		"unknown use member": use(ok + `,"x":"y"`),
		"duplicate jti":      use(ok + `,"jti":"b"`),
		"no jti":             use(`"at":"2026-11-30T12:00:00Z","outcome":"accepted"`),
		"empty jti":          use(`"jti":"","at":"2026-11-30T12:00:00Z","outcome":"accepted"`),
		"long jti":           use(`"jti":"` + strings.Repeat("a", MaxJTI+1) + `","at":"2026-11-30T12:00:00Z","outcome":"accepted"`),
		"jti with space":     use(`"jti":"a b","at":"2026-11-30T12:00:00Z","outcome":"accepted"`),
		"jti not string":     use(`"jti":1,"at":"2026-11-30T12:00:00Z","outcome":"accepted"`),
		"no at":              use(`"jti":"a","outcome":"accepted"`),
		"bad at":             use(`"jti":"a","at":"yesterday","outcome":"accepted"`),
		"bad client":         use(ok + `,"client_ip":"10.0.0.0/8"`),
		"no outcome":         use(`"jti":"a","at":"2026-11-30T12:00:00Z"`),
		"upper outcome":      use(`"jti":"a","at":"2026-11-30T12:00:00Z","outcome":"Accepted"`),
		"long outcome":       use(`"jti":"a","at":"2026-11-30T12:00:00Z","outcome":"` + strings.Repeat("a", MaxOutcome+1) + `"`),
		"trailing":           `{"uses":[]} x`,
		"too many uses":      `{"uses":[` + strings.Repeat(`{`+ok+`},`, MaxUses) + `{` + ok + `}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := Parse([]byte(body)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %v, %v; want ErrMalformed", got, err)
			}
		})
	}
	if _, err := Parse(make([]byte, MaxBody+1)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized body: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"uses":[{"jti":"abc","at":"2026-11-30T12:00:00Z","client_ip":"203.0.113.9","outcome":"accepted"}]}`))
	f.Add([]byte(`{"uses":[{"jti":"\u00e9","at":"2026-11-30T12:00:00.5-07:00","outcome":"x"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		uses, err := Parse(body)
		if err != nil {
			return
		}
		again, err := Parse(Append(nil, uses))
		if err != nil {
			t.Fatalf("Parse(Append(%+v)): %v", uses, err)
		}
		for i := range uses {
			u, a := uses[i], again[i]
			if u.JTI != a.JTI || u.Client != a.Client || u.Outcome != a.Outcome || u.At.Unix() != a.At.Unix() {
				t.Fatalf("round trip: %+v became %+v", u, a)
			}
		}
	})
}

// TestAppendSameSecond: uses in one second, whatever their zone or
// fraction, are written alike, and the next second is written anew.
func TestAppendSameSecond(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var uses []Use
	for _, a := range []time.Time{at, at.Add(500 * time.Millisecond), at.In(time.FixedZone("X", 3600)), at.Add(time.Second), at.Add(time.Second), at} {
		uses = append(uses, Use{JTI: "j", At: a, Outcome: Accepted})
	}
	got := strings.Count(string(Append(nil, uses)), `"at":"2026-11-30T12:00:00Z"`)
	if got != 4 || !strings.Contains(string(Append(nil, uses)), `"at":"2026-11-30T12:00:01Z"`) {
		t.Fatalf("%s", Append(nil, uses))
	}
}
