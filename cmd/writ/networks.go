package main

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/spf13/pflag"

	"github.com/writ-dev/writ/issuer"
)

// networksVar defines a repeatable flag of networks: each a CIDR prefix
// or an address, which stands for that one host (issuer.ParseNetwork).
// A value that is neither is a usage error naming the flag (exit 2).
func networksVar(fl *pflag.FlagSet, p *[]netip.Prefix, name, usage string) {
	fl.Var(&networksValue{p: p}, name, usage)
}

type networksValue struct{ p *[]netip.Prefix }

func (v *networksValue) Set(s string) error {
	n, err := issuer.ParseNetwork(s)
	if err != nil {
		if _, perr := netip.ParsePrefix(s); perr == nil { // host bits set: the error suggests the network
			return errors.New(strings.TrimPrefix(err.Error(), issuer.ErrRequest.Error()+": "))
		}
		return errors.New("want a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32, or an address")
	}
	*v.p = append(*v.p, n)
	return nil
}

func (v *networksValue) String() string {
	s := make([]string, len(*v.p))
	for i, n := range *v.p {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

func (v *networksValue) Type() string { return "CIDR" }
