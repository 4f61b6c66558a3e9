package server

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/writ-dev/writ/issuer"
)

// jsonNetworks reads the networks a token is bound to, "allowed_ips": an
// array of CIDR prefixes or addresses, each as issuer.ParseNetwork reads
// it.
type jsonNetworks []netip.Prefix

func (n *jsonNetworks) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf(`"allowed_ips" is an array of CIDR prefixes`)
	}
	out := make(jsonNetworks, 0, len(list))
	for _, s := range list {
		p, err := issuer.ParseNetwork(s)
		if err != nil {
			return err
		}
		out = append(out, p)
	}
	*n = out
	return nil
}
