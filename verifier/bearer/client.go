package bearer

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// ClientAddr returns the address of the client that sent r, for checking a
// token bound to networks (verifier.Verifier.VerifyFrom): the address of
// the connection, r.RemoteAddr, unless that is in one of trustedProxies.
// Only then are the forwarding headers read, Forwarded (RFC 7239, its for=
// parameters) and X-Forwarded-For: each lists the hops a request went
// through, the last appended by the nearest proxy, so ClientAddr walks
// them from the right, past the addresses of trusted proxies, and returns
// the first address that is not one (or the first hop when all are). A
// client can write anything in these headers, but only to the left of
// what the trusted proxies append.
//
// It returns the zero Addr, which no network contains, when the address is
// not known: a RemoteAddr that is not an address (a Unix socket), a hop
// given as "unknown" or obfuscated (for=_hidden). It returns an error
// wrapping ErrForwarded when a trusted proxy sent a header that does not
// parse, or sent both headers and they name different clients (a proxy
// that sets one passes the other on from the client as it came): answer
// such a request 400, as Middleware does. Addresses are returned
// IPv4-mapped IPv6 as IPv4 and without a zone, and are matched against
// trustedProxies so.
//
// Trust only proxies that overwrite or append to these headers: a proxy
// that passes them on untouched lets its clients choose their address.
func ClientAddr(r *http.Request, trustedProxies []netip.Prefix) (netip.Addr, error) {
	peer := parseNode(r.RemoteAddr)
	if !trusted(peer, trustedProxies) {
		return peer, nil
	}
	xff, fwd := r.Header.Values("X-Forwarded-For"), r.Header.Values("Forwarded")
	if len(xff) == 0 && len(fwd) == 0 {
		return peer, nil
	}
	var client netip.Addr
	if len(fwd) > 0 {
		hops, err := forwardedFor(strings.Join(fwd, ","))
		if err != nil {
			return netip.Addr{}, err
		}
		client = rightmostUntrusted(hops, trustedProxies)
	}
	if len(xff) > 0 {
		hops, err := xForwardedFor(strings.Join(xff, ","))
		if err != nil {
			return netip.Addr{}, err
		}
		c := rightmostUntrusted(hops, trustedProxies)
		if len(fwd) > 0 && c != client {
			return netip.Addr{}, errConflict
		}
		client = c
	}
	return client, nil
}

// trusted reports whether addr, unmapped, is in one of proxies. An
// IPv4-mapped prefix of proxies is read as the IPv4 one it writes: else
// it would never match, and the proxy's clients would all pass for it.
func trusted(addr netip.Addr, proxies []netip.Prefix) bool {
	if !addr.IsValid() {
		return false
	}
	return slices.ContainsFunc(proxies, func(p netip.Prefix) bool {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Contains(addr)
	})
}

// rightmostUntrusted returns the last of hops (oldest first) that is not
// a trusted proxy, the zero Addr if that hop is unknown, or the first hop
// when all are trusted.
func rightmostUntrusted(hops []netip.Addr, proxies []netip.Prefix) netip.Addr {
	for i := len(hops) - 1; i > 0; i-- {
		if !trusted(hops[i], proxies) {
			return hops[i]
		}
	}
	return hops[0]
}

// xForwardedFor parses an X-Forwarded-For value: comma-separated hops,
// each an address, with or without a port ("192.0.2.1:4711",
// "[2001:db8::1]:4711"), or "unknown".
func xForwardedFor(h string) ([]netip.Addr, error) {
	var hops []netip.Addr
	for f := range strings.SplitSeq(h, ",") {
		f = strings.Trim(f, " \t")
		addr := parseNode(f)
		if !addr.IsValid() && !strings.EqualFold(f, "unknown") {
			return nil, errMalformedXFF
		}
		hops = append(hops, addr)
	}
	return hops, nil
}

// forwardedFor parses a Forwarded value (RFC 7239 §4) and returns the node
// of each element's for= parameter (§6), the zero Addr for one that is
// "unknown", obfuscated or absent.
func forwardedFor(h string) ([]netip.Addr, error) {
	var hops []netip.Addr
	p := forwardedParser{s: h}
	for {
		var node netip.Addr
		seen := false // a for= in this element
		for {
			p.skipSpace()
			if p.done() || p.peek() == ',' {
				break
			}
			if p.peek() == ';' {
				p.i++
				continue
			}
			name, value, ok := p.pair()
			if !ok {
				return nil, errMalformedForwarded
			}
			if strings.EqualFold(name, "for") {
				if seen {
					return nil, errMalformedForwarded // two for= in one element
				}
				seen, node = true, parseNode(value)
				if !node.IsValid() && !obfuscated(value) {
					return nil, errMalformedForwarded
				}
			}
		}
		hops = append(hops, node)
		if p.done() {
			return hops, nil
		}
		p.i++ // ','
	}
}

// obfuscated reports whether a Forwarded node is "unknown" or an
// obfuscated identifier ("_" and letters, digits, '.', '_', '-'), with or
// without an obfuscated port (RFC 7239 §6).
func obfuscated(node string) bool {
	id, port, _ := strings.Cut(node, ":")
	if !strings.EqualFold(id, "unknown") && (len(id) < 2 || id[0] != '_' || !obfChars(id[1:])) {
		return false
	}
	return port == "" || obfChars(port)
}

func obfChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// parseNode reads an address as a connection's RemoteAddr or a forwarding
// header writes it: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
// "[2001:db8::1]" or "[2001:db8::1]:4711". It returns the address
// unmapped and without a zone, or the zero Addr when s is none of these.
func parseNode(s string) netip.Addr {
	var addr netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		addr = ap.Addr()
	} else if inner, ok := strings.CutPrefix(s, "["); ok {
		// Brackets go around an IPv6 address only, and in pairs.
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			if a, err := netip.ParseAddr(inner); err == nil && a.Is6() {
				addr = a
			}
		}
	} else if a, err := netip.ParseAddr(s); err == nil {
		addr = a
	}
	return addr.Unmap().WithZone("")
}

// forwardedParser reads RFC 7239 parameters: token "=" (token / quoted-string).
type forwardedParser struct {
	s string
	i int
}

func (p *forwardedParser) done() bool { return p.i >= len(p.s) }
func (p *forwardedParser) peek() byte { return p.s[p.i] }

func (p *forwardedParser) skipSpace() {
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

// pair reads name=value, the value unquoted.
func (p *forwardedParser) pair() (name, value string, ok bool) {
	if name = p.token(); name == "" || p.done() || p.peek() != '=' {
		return "", "", false
	}
	p.i++
	if p.done() || p.peek() != '"' {
		value = p.token()
		return name, value, value != ""
	}
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.peek()
		p.i++
		switch {
		case c == '"':
			return name, b.String(), true
		case c == '\\' && !p.done():
			c = p.peek()
			p.i++
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", "", false
		}
		b.WriteByte(c)
	}
	return "", "", false // no closing quote
}

// token reads an RFC 9110 token.
func (p *forwardedParser) token() string {
	start := p.i
	for !p.done() && isTokenChar(p.peek()) {
		p.i++
	}
	return p.s[start:p.i]
}

func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
