package verifier_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/writ-dev/writ/verifier"
)

// TestVerifyFromAllowedIPs: a token bound to networks verifies only from a
// client address inside one of them (mapped IPv4 and zones as the plain
// address), never without an address; a token bound to none verifies from
// anywhere and without an address.
func TestVerifyFromAllowedIPs(t *testing.T) {
	ctx := context.Background()
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	nets := []string{"10.0.0.0/8", "2001:db8::/32"}
	bound := map[string]string{
		"jwt":    fx.ed.jwt(nil, set("allowed_ips", nets)),
		"paseto": fx.pk.paseto(set("allowed_ips", nets)),
	}
	for format, tok := range bound {
		for _, tc := range []struct {
			client string // "" for none
			want   error
			msg    string
		}{
			{"10.1.2.3", nil, ""},
			{"::ffff:10.1.2.3", nil, ""},
			{"2001:db8::1", nil, ""},
			{"fe80::1%eth0", verifier.ErrClientIP, "fe80::1 is outside the token's networks"},
			{"2001:db8::1%eth0", nil, ""},
			{"192.0.2.1", verifier.ErrClientIP, "192.0.2.1 is outside the token's networks"},
			{"::ffff:192.0.2.1", verifier.ErrClientIP, "192.0.2.1 is outside the token's networks"},
			{"11.0.0.1", verifier.ErrClientIP, "11.0.0.1 is outside"},
			{"2001:db9::1", verifier.ErrClientIP, "2001:db9::1 is outside"},
			{"", verifier.ErrClientIP, "no client address was given"},
		} {
			t.Run(format+"/"+tc.client, func(t *testing.T) {
				var client netip.Addr
				if tc.client != "" {
					client = netip.MustParseAddr(tc.client)
				}
				c, err := v.VerifyFrom(ctx, tok, client)
				checkSentinel(t, err, tc.want)
				if err != nil && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				if err == nil && (len(c.AllowedIPs) != 2 || c.AllowedIPs[1].String() != nets[1]) {
					t.Errorf("AllowedIPs %v", c.AllowedIPs)
				}
			})
		}
		if _, err := v.Verify(ctx, tok); err == nil || !strings.Contains(err.Error(), "no client address") {
			t.Errorf("%s: Verify of a bound token: %v, want ErrClientIP", format, err)
		} else {
			checkSentinel(t, err, verifier.ErrClientIP)
		}
	}

	free := fx.ed.jwt(nil, nil)
	for _, client := range []netip.Addr{{}, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")} {
		if _, err := v.VerifyFrom(ctx, free, client); err != nil {
			t.Errorf("unbound token from %v: %v", client, err)
		}
	}

	// UnsafeAnyClient leaves the check to the caller, with AllowsAddr.
	anyClient := newVerifier(t, fx.keys, func(c *verifier.Config) { c.UnsafeAnyClient = true })
	c, err := anyClient.Verify(ctx, bound["jwt"])
	if err != nil {
		t.Fatalf("UnsafeAnyClient: %v", err)
	}
	if !c.AllowsAddr(netip.MustParseAddr("::ffff:10.0.0.1")) || c.AllowsAddr(netip.MustParseAddr("192.0.2.1")) || c.AllowsAddr(netip.Addr{}) {
		t.Errorf("AllowsAddr disagrees with the token's networks %v", c.AllowedIPs)
	}
}

// TestAllowedIPsMalformed: an allowed_ips claim that is not a non-empty
// array of canonical CIDR prefixes is a malformed token, whatever the
// client address.
func TestAllowedIPsMalformed(t *testing.T) {
	fx := fixedKeys()
	v := newVerifier(t, fx.keys, nil)
	for _, claim := range []any{
		[]string{}, "10.0.0.0/8", []string{"10.1.2.3/8"}, []string{"10.0.0.1"}, []string{"010.0.0.0/8"},
		[]string{"2001:DB8::/32"}, []string{"fe80::%eth0/64"}, []any{1}, []string{""}, nil,
		make([]string, 33),
	} {
		tok := fx.ed.jwt(nil, set("allowed_ips", claim))
		_, err := v.VerifyFrom(context.Background(), tok, netip.MustParseAddr("10.1.2.3"))
		checkSentinel(t, err, verifier.ErrMalformed)
	}
}
