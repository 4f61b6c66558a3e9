package issuer_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// TestIssueAllowedIPs: the networks of a request are checked, written
// canonical and without duplicates in the order given, into the token and
// its record; a bad one is refused with an error that names it.
func TestIssueAllowedIPs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	v := e.verifier(t)
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name string
		nets []netip.Prefix
		want []netip.Prefix
	}{
		{"v4 and v6", []netip.Prefix{p("10.0.0.0/8"), p("2001:db8::/32")}, []netip.Prefix{p("10.0.0.0/8"), p("2001:db8::/32")}},
		{"duplicates dropped, order kept", []netip.Prefix{p("2001:db8::/32"), p("10.0.0.0/8"), p("2001:db8::/32")},
			[]netip.Prefix{p("2001:db8::/32"), p("10.0.0.0/8")}},
		{"v4-mapped written as v4", []netip.Prefix{p("::ffff:10.0.0.0/104"), p("10.0.0.0/8"), p("::ffff:192.0.2.1/128")},
			[]netip.Prefix{p("10.0.0.0/8"), p("192.0.2.1/32")}},
		{"single hosts", []netip.Prefix{p("192.0.2.1/32"), p("2001:db8::1/128")}, []netip.Prefix{p("192.0.2.1/32"), p("2001:db8::1/128")}},
	} {
		for _, f := range []keys.Format{keys.JWT, keys.PASETO} {
			t.Run(tc.name+"/"+string(f), func(t *testing.T) {
				tok := e.issue(t, issuer.Request{Subject: "alice", Format: f, AllowedIPs: tc.nets})
				rec, err := e.issuer.Get(ctx, tok.ID)
				if err != nil || !slices.Equal(rec.AllowedIPs, tc.want) {
					t.Errorf("record: %v, %v; want %v", rec.AllowedIPs, err, tc.want)
				}
				c, err := v.VerifyFrom(ctx, tok.Token, tc.want[0].Addr())
				if err != nil || !slices.Equal(c.AllowedIPs, tc.want) {
					t.Errorf("claim: %+v, %v; want %v", c, err, tc.want)
				}
			})
		}
	}

	many := make([]netip.Prefix, 33)
	for i := range many {
		many[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)
	}
	for _, tc := range []struct {
		name string
		nets []netip.Prefix
		want string
	}{
		{"host bits", []netip.Prefix{p("10.0.0.0/8"), p("10.1.2.3/8")}, `"10.1.2.3/8" has host bits set: did you mean 10.0.0.0/8?`},
		{"v6 host bits", []netip.Prefix{p("2001:db8::1/32")}, `"2001:db8::1/32" has host bits set`},
		{"invalid", []netip.Prefix{{}}, `"invalid Prefix" is not a valid CIDR prefix`},
		{"too many", many, "more than 32 allowed networks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{testAudience}, AllowedIPs: tc.nets})
			if !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Issue = %v; want ErrRequest naming %s", err, tc.want)
			}
		})
	}
	if _, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{testAudience}, AllowedIPs: many[:32]}); err != nil {
		t.Errorf("32 networks: %v", err)
	}
}

func TestParseNetwork(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", ""}, // host bits set: the error names the masked form
		{"192.0.2.1", "192.0.2.1/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"}, // read as the IPv4 address it writes
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:0.0.0.0/96", "0.0.0.0/0"},
		{"fe80::1%eth0", ""},
		{"10.0.0.0/33", ""},
		{"10.0.0.0/", ""},
		{"example.com", ""},
		{" 10.0.0.0/8", ""},
		{"", ""},
	} {
		p, err := issuer.ParseNetwork(tc.in)
		if tc.want == "" {
			if !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
				t.Errorf("ParseNetwork(%q) = %v, %v; want ErrRequest quoting it", tc.in, p, err)
			}
		} else if err != nil || p.String() != tc.want {
			t.Errorf("ParseNetwork(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
}

// TestRegenerateKeepsAllowedIPs: the replacement of a token bound to
// networks is bound to the same ones, in its claim and its record.
func TestRegenerateKeepsAllowedIPs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	nets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	old := e.issue(t, issuer.Request{Subject: "ci", AllowedIPs: nets})
	tok, err := e.issuer.Regenerate(ctx, old.ID, revocation.Options{Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	v := e.verifier(t)
	if _, err := v.VerifyFrom(ctx, tok.Token, netip.MustParseAddr("192.0.2.1")); !errors.Is(err, verifier.ErrClientIP) {
		t.Errorf("replacement from outside the networks: %v, want ErrClientIP", err)
	}
	if c, err := v.VerifyFrom(ctx, tok.Token, netip.MustParseAddr("2001:db8::1")); err != nil || !slices.Equal(c.AllowedIPs, nets) {
		t.Errorf("replacement from inside: %+v, %v", c, err)
	}
	if rec, err := e.issuer.Get(ctx, tok.ID); err != nil || !slices.Equal(rec.AllowedIPs, nets) {
		t.Errorf("replacement's record: %+v, %v", rec, err)
	}
}

// TestParseNetworkSuggestsIPv4: host bits set in an IPv4-mapped network
// get a suggestion of the IPv4 network it stands for, not of another
// mapped form that hides how wide it is.
func TestParseNetworkSuggestsIPv4(t *testing.T) {
	_, err := issuer.ParseNetwork("::ffff:127.0.0.1/100")
	if err == nil || !strings.Contains(err.Error(), `network "127.0.0.1/4" has host bits set: did you mean 112.0.0.0/4?`) {
		t.Errorf("ParseNetwork(::ffff:127.0.0.1/100) = %v", err)
	}
}
