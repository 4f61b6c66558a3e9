package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/writ-dev/writ/verifier"
)

// IsURL reports whether location, as LoadKeySet and LoadKeySets read it,
// names an http or https URL; anything else names a file.
func IsURL(location string) bool {
	return strings.HasPrefix(location, "http://") || strings.HasPrefix(location, "https://")
}

// LoadKeySet reads a key set once from location, as writ verify --jwks
// and --paserk do: an http or https URL is fetched once (a program that
// runs on follows the URL with [NewKeySet]); anything else is a file. parse
// reads the set: verifier.ParseJWKS or verifier.ParsePASERKSet; nil means
// ParseJWKS. The keys the set holds that the verifier cannot use are left
// out and listed by its Ignored method.
//
// A file that cannot be read is an error wrapping verifier.ErrKeySet; a set
// that parse refuses, one wrapping parse's error (verifier.ErrKeySet for
// writ's parsers) after the file's name. A URL fails as NewKeySet's first
// fetch does.
func LoadKeySet(ctx context.Context, location string, parse Parser) (*verifier.KeySet, error) {
	return loadKeySet(ctx, location, parse, nil)
}

func loadKeySet(ctx context.Context, location string, parse Parser, client *http.Client) (*verifier.KeySet, error) {
	if parse == nil {
		parse = verifier.ParseJWKS
	}
	if IsURL(location) {
		k, err := NewKeySet(ctx, KeySetConfig{URL: location, Parse: parse, Client: client})
		if err != nil {
			return nil, err
		}
		k.Close()
		return k.Current(), nil
	}
	data, err := readFile(location)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", verifier.ErrKeySet, err)
	}
	ks, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	return ks, nil
}

// readFile reads a key set file, or one byte more than a key set may hold
// so that the parser refuses it as too large, without reading on.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, verifier.MaxKeySetSize+1))
}

// KeySources says where LoadKeySets reads a verifier's keys: each an http
// or https URL, or a file (see LoadKeySet); "" for none.
type KeySources struct {
	// JWKS is a JSON Web Key Set with the JWT keys, such as a writ
	// server's /.well-known/jwks.json.
	JWKS string
	// PASERK is a PASERK set with the PASETO keys, such as a writ server's
	// /.well-known/paserk.json.
	PASERK string
	// Client fetches the URLs; nil means a client with a 10s timeout.
	Client *http.Client
	// OnIgnored, when set, is called as each set is read with each key it
	// holds that the verifier cannot use (see verifier.KeySet.Ignored) and
	// the location of the set. Nothing ignored verifies a token, but a
	// publisher whose keys are ignored is misconfigured or under attack, so
	// say so: writ verify prints a warning.
	OnIgnored func(location string, key verifier.IgnoredKey)
}

// KeySets are the key sets that LoadKeySets read.
type KeySets struct {
	// All holds the keys of every set: a verifier's Config.Keys.
	All *verifier.KeySet
	// JWT is the set read from KeySources.JWKS, nil without one. It alone
	// verifies the revocation feed of the writ server that published it
	// (remote.FeedConfig.Keys): a set merged with other keys would accept
	// a feed signed by any of them.
	JWT *verifier.KeySet
	// PASETO is the set read from KeySources.PASERK, nil without one.
	PASETO *verifier.KeySet
}

// LoadKeySets reads the key sets of src once, the JWKS first, and merges
// them, as writ verify does. At least one is required. It fails as
// LoadKeySet does for either set, and with an error wrapping
// verifier.ErrKeySet when the sets share a key id.
func LoadKeySets(ctx context.Context, src KeySources) (*KeySets, error) {
	if src.JWKS == "" && src.PASERK == "" {
		return nil, errors.New("remote: KeySources.JWKS or PASERK is required")
	}
	var (
		out  KeySets
		sets []*verifier.KeySet
	)
	for _, s := range []struct {
		location string
		parse    Parser
		set      **verifier.KeySet
	}{{src.JWKS, verifier.ParseJWKS, &out.JWT}, {src.PASERK, verifier.ParsePASERKSet, &out.PASETO}} {
		if s.location == "" {
			continue
		}
		ks, err := loadKeySet(ctx, s.location, s.parse, src.Client)
		if err != nil {
			return nil, err
		}
		if src.OnIgnored != nil {
			for _, k := range ks.Ignored() {
				src.OnIgnored(s.location, k)
			}
		}
		*s.set = ks
		sets = append(sets, ks)
	}
	all, err := verifier.MergeKeySets(sets...)
	if err != nil {
		return nil, err
	}
	out.All = all
	return &out, nil
}

// Algorithms returns the algorithms of the keys in s.All, each once, in
// the order of their key ids: the algorithms a verifier of these sets
// accepts when nothing narrows them (verifier.Config.Algorithms). Each
// key still verifies only the algorithm it was published with.
func (s *KeySets) Algorithms() []verifier.Algorithm {
	var algs []verifier.Algorithm
	for _, k := range s.All.Keys() {
		if !slices.Contains(algs, k.Algorithm()) {
			algs = append(algs, k.Algorithm())
		}
	}
	return algs
}
