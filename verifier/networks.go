package verifier

import (
	"fmt"
	"net/netip"
)

// checkClient returns an error wrapping ErrClientIP unless c is bound to
// no network, or client lies in one of c.AllowedIPs, or the verifier is
// UnsafeAnyClient. A token without allowed_ips costs one length check.
func (v *Verifier) checkClient(c *Claims, client netip.Addr) error {
	if len(c.AllowedIPs) == 0 || v.anyClient {
		return nil
	}
	if !client.IsValid() {
		return fmt.Errorf("%w: the token is bound to networks and no client address was given", ErrClientIP)
	}
	if c.AllowsAddr(client) {
		return nil
	}
	return fmt.Errorf("%w: %s is outside the token's networks", ErrClientIP, client.Unmap().WithZone(""))
}

// AllowsAddr reports whether a client at addr may present the token: true
// when the token is bound to no network (allowed_ips), otherwise when addr
// lies in one of AllowedIPs. An IPv4-mapped IPv6 address counts as the
// IPv4 address, and a zone is ignored; the zero Addr lies in no network.
func (c *Claims) AllowsAddr(addr netip.Addr) bool {
	if len(c.AllowedIPs) == 0 {
		return true
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range c.AllowedIPs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
