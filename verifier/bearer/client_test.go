package bearer_test

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/writ-dev/writ/verifier/bearer"
)

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	type headers map[string][]string
	for _, tc := range []struct {
		name    string
		remote  string
		headers headers
		want    string // "" for the zero Addr
		err     bool
	}{
		{"connection", "192.0.2.1:4711", nil, "192.0.2.1", false},
		{"connection, IPv6", "[2001:db8::1]:4711", nil, "2001:db8::1", false},
		{"connection, mapped and zoned", "[::ffff:192.0.2.1%eth0]:4711", nil, "192.0.2.1", false},
		{"connection not an address", "@", nil, "", false},
		{"trusted proxy without headers", "10.0.0.1:4711", nil, "10.0.0.1", false},

		// Spoofing: headers from a client that is not a trusted proxy are
		// never read, malformed or not.
		{"untrusted X-Forwarded-For", "192.0.2.1:4711", headers{"X-Forwarded-For": {"10.1.2.3"}}, "192.0.2.1", false},
		{"untrusted Forwarded", "192.0.2.1:4711", headers{"Forwarded": {"for=10.1.2.3"}}, "192.0.2.1", false},
		{"untrusted malformed header", "192.0.2.1:4711", headers{"Forwarded": {`for="`}, "X-Forwarded-For": {"junk"}}, "192.0.2.1", false},

		{"X-Forwarded-For", "10.0.0.1:4711", headers{"X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.1", false},
		{"X-Forwarded-For with ports", "10.0.0.1:4711", headers{"X-Forwarded-For": {"[2001:db8::1]:80, 192.0.2.9:1"}}, "192.0.2.9", false},
		{"X-Forwarded-For, bare IPv6", "10.0.0.1:4711", headers{"X-Forwarded-For": {"2001:db8::1"}}, "2001:db8::1", false},
		{"X-Forwarded-For chain past trusted proxies", "10.0.0.1:4711", headers{"X-Forwarded-For": {"198.51.100.7, 192.0.2.1, 10.0.0.2, fd00::1"}}, "192.0.2.1", false},
		{"X-Forwarded-For in several lines", "10.0.0.1:4711", headers{"X-Forwarded-For": {"198.51.100.7, 192.0.2.1", "10.0.0.2"}}, "192.0.2.1", false},
		{"X-Forwarded-For spoofed on the left", "10.0.0.1:4711", headers{"X-Forwarded-For": {"10.9.9.9, 203.0.113.5"}}, "203.0.113.5", false},
		{"X-Forwarded-For all trusted", "10.0.0.1:4711", headers{"X-Forwarded-For": {"10.0.0.3, 10.0.0.2"}}, "10.0.0.3", false},
		{"X-Forwarded-For unknown", "10.0.0.1:4711", headers{"X-Forwarded-For": {"192.0.2.1, unknown"}}, "", false},
		{"X-Forwarded-For mapped", "10.0.0.1:4711", headers{"X-Forwarded-For": {"::ffff:192.0.2.1"}}, "192.0.2.1", false},
		{"X-Forwarded-For malformed", "10.0.0.1:4711", headers{"X-Forwarded-For": {"192.0.2.1, not-an-ip"}}, "", true},
		{"X-Forwarded-For empty", "10.0.0.1:4711", headers{"X-Forwarded-For": {""}}, "", true},
		{"X-Forwarded-For empty hop", "10.0.0.1:4711", headers{"X-Forwarded-For": {"192.0.2.1,,10.0.0.2"}}, "", true},
		{"X-Forwarded-For IPv4 in brackets", "10.0.0.1:4711", headers{"X-Forwarded-For": {"[192.0.2.1]"}}, "", true},
		{"X-Forwarded-For one bracket", "10.0.0.1:4711", headers{"X-Forwarded-For": {"[2001:db8::1"}}, "", true},
		{"X-Forwarded-For prefix", "10.0.0.1:4711", headers{"X-Forwarded-For": {"192.0.2.0/24"}}, "", true},

		{"Forwarded", "10.0.0.1:4711", headers{"Forwarded": {"for=192.0.2.60;proto=http;by=203.0.113.43"}}, "192.0.2.60", false},
		{"Forwarded quoted IPv6 with port", "10.0.0.1:4711", headers{"Forwarded": {`For="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17", false},
		{"Forwarded chain", "10.0.0.1:4711", headers{"Forwarded": {`for=198.51.100.17, for=192.0.2.43;proto=https, for="[fd00::2]"`}}, "192.0.2.43", false},
		{"Forwarded in several lines", "10.0.0.1:4711", headers{"Forwarded": {"for=192.0.2.43", "for=10.0.0.2"}}, "192.0.2.43", false},
		{"Forwarded quoted comma", "10.0.0.1:4711", headers{"Forwarded": {`for=192.0.2.43;ext="a,b\"c", for=10.0.0.2`}}, "192.0.2.43", false},
		{"Forwarded spoofed on the left", "10.0.0.1:4711", headers{"Forwarded": {"for=10.9.9.9, for=203.0.113.5"}}, "203.0.113.5", false},
		{"Forwarded unknown", "10.0.0.1:4711", headers{"Forwarded": {"for=unknown"}}, "", false},
		{"Forwarded obfuscated", "10.0.0.1:4711", headers{"Forwarded": {`for="_hidden:_port"`}}, "", false},
		{"Forwarded without for", "10.0.0.1:4711", headers{"Forwarded": {"proto=https"}}, "", false},
		{"Forwarded unterminated quote", "10.0.0.1:4711", headers{"Forwarded": {`for="192.0.2.1`}}, "", true},
		{"Forwarded two for", "10.0.0.1:4711", headers{"Forwarded": {"for=192.0.2.1;for=198.51.100.1"}}, "", true},
		{"Forwarded IPv6 unbracketed in quotes", "10.0.0.1:4711", headers{"Forwarded": {`for="2001:db8::1"`}}, "2001:db8::1", false},
		{"Forwarded junk node", "10.0.0.1:4711", headers{"Forwarded": {"for=localhost"}}, "", true},
		{"Forwarded no value", "10.0.0.1:4711", headers{"Forwarded": {"for="}}, "", true},
		{"Forwarded no pair", "10.0.0.1:4711", headers{"Forwarded": {"192.0.2.1"}}, "", true},
		{"Forwarded control character", "10.0.0.1:4711", headers{"Forwarded": {"for=\"192.0.2.1\x01\""}}, "", true},

		{"both headers agree", "10.0.0.1:4711", headers{"Forwarded": {"for=192.0.2.1"}, "X-Forwarded-For": {"192.0.2.1"}}, "192.0.2.1", false},
		{"both headers differ", "10.0.0.1:4711", headers{"Forwarded": {"for=198.51.100.1"}, "X-Forwarded-For": {"192.0.2.1"}}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for name, values := range tc.headers {
				for _, v := range values {
					r.Header.Add(name, v)
				}
			}
			got, err := bearer.ClientAddr(r, proxies)
			if tc.err {
				if !errors.Is(err, bearer.ErrForwarded) || got.IsValid() {
					t.Fatalf("ClientAddr = %v, %v; want ErrForwarded", got, err)
				}
				return
			}
			var want netip.Addr
			if tc.want != "" {
				want = netip.MustParseAddr(tc.want)
			}
			if err != nil || got != want {
				t.Fatalf("ClientAddr = %v, %v; want %v", got, err, want)
			}
		})
	}
}

// FuzzClientAddr: whatever a trusted proxy's headers hold, ClientAddr
// neither panics nor returns anything but an unmapped, unzoned address,
// the zero Addr or ErrForwarded.
func FuzzClientAddr(f *testing.F) {
	for _, seed := range [][2]string{
		{`for="[2001:db8::1]:4711";proto=https, for=10.0.0.2`, "192.0.2.1, ::ffff:10.0.0.1"},
		{`for="_x";by=unknown,,for=unknown`, "unknown, [fe80::1%eth0]:1"},
		{`for="\`, "[::1"},
	} {
		f.Add(seed[0], seed[1])
	}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, fwd, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:4711"
		r.Header.Set("Forwarded", fwd)
		r.Header.Set("X-Forwarded-For", xff)
		got, err := bearer.ClientAddr(r, proxies)
		if err != nil && (!errors.Is(err, bearer.ErrForwarded) || got.IsValid()) {
			t.Fatalf("ClientAddr = %v, %v", got, err)
		}
		if got.Is4In6() || got.Zone() != "" {
			t.Fatalf("ClientAddr = %v, not unmapped and unzoned", got)
		}
	})
}

// TestClientAddrMappedProxy: a trusted proxy configured in IPv4-mapped
// form is the IPv4 proxy it writes, so that its headers are read: were
// they not, every client behind it would pass for the proxy itself.
func TestClientAddrMappedProxy(t *testing.T) {
	for _, proxy := range []string{"::ffff:10.0.0.5/128", "::ffff:10.0.0.0/104"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.5:4711"
		r.Header.Set("X-Forwarded-For", "198.51.100.7")
		got, err := bearer.ClientAddr(r, []netip.Prefix{netip.MustParsePrefix(proxy)})
		if err != nil || got != netip.MustParseAddr("198.51.100.7") {
			t.Errorf("behind trusted proxy %s: %v, %v; want the client 198.51.100.7", proxy, got, err)
		}
	}
}
