package issuer

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/writ-dev/writ/internal/accesstoken"
)

// normalizeNetworks checks the networks a token is bound to and returns
// them as its allowed_ips claim carries them: at most
// accesstoken.MaxAllowedIPs prefixes, each valid and in canonical form (no
// host bits set), duplicates dropped, in the order given.
//
// An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) is written as the IPv4
// prefix it covers (10.0.0.0/8): verifiers compare IPv4 clients, mapped or
// not, with IPv4 prefixes only, so the mapped form would never match. Other
// IPv6 prefixes, ::/0 among them, match IPv6 clients only. (netip.Prefix holds no zone: PrefixFrom strips it.)
func normalizeNetworks(nets []netip.Prefix) ([]netip.Prefix, error) {
	if len(nets) > accesstoken.MaxAllowedIPs {
		return nil, fmt.Errorf("%w: more than %d allowed networks", ErrRequest, accesstoken.MaxAllowedIPs)
	}
	var out []netip.Prefix
	for _, p := range nets {
		p, err := canonicalNetwork(p)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// canonicalNetwork returns p as the claim carries it, an IPv4-mapped
// prefix as the IPv4 one (verifiers unmap client addresses, so the mapped
// form would never match), or an error for a prefix that is not valid or
// has host bits set.
func canonicalNetwork(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("%w: allowed network %q is not a valid CIDR prefix", ErrRequest, p)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		// First, so that a suggestion names the IPv4 network it stands for.
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if p != p.Masked() {
		return p, fmt.Errorf("%w: network %q has host bits set: did you mean %s?", ErrRequest, p, p.Masked())
	}
	return p, nil
}

// ParseNetwork reads a network for Request.AllowedIPs as people write one:
// a CIDR prefix (10.0.0.0/8, 2001:db8::/32), or an address, which stands
// for that one host (/32 or /128), in its canonical form: an IPv4-mapped
// one as IPv4, and one with host bits set (10.0.0.5/8) refused. A zone
// (fe80::1%eth0) is refused. Errors wrap ErrRequest and quote s.
func ParseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return canonicalNetwork(p)
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return canonicalNetwork(netip.PrefixFrom(a, a.BitLen()))
	}
	return netip.Prefix{}, fmt.Errorf("%w: allowed network %q: want a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32, or an address", ErrRequest, s)
}
