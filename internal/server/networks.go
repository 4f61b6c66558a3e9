package server

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/writ-dev/writ/issuer"
)

// jsonNetworks reads the networks a token is bound to, "allowed_ips": an
// array of CIDR prefixes or addresses, each as issuer.ParseNetwork reads
// it. An empty array is refused: it would read as "nowhere", and leaving
// the member out (or null) means an unbound token.
type jsonNetworks []netip.Prefix

func (n *jsonNetworks) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf(`"allowed_ips" is an array of CIDR prefixes`)
	}
	if list != nil && len(list) == 0 {
		return fmt.Errorf(`"allowed_ips" is empty: leave it out for a token usable from any network`)
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
