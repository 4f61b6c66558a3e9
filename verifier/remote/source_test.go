package remote_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/paserk"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
)

// testKey is a test-only Ed25519 public key derived from name.
func testKey(name string) ed25519.PublicKey {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}

// jwks is a JWKS of one Ed25519 key per kid, followed by raw members.
func jwks(kids []string, raw ...string) string {
	var members []string
	for _, kid := range kids {
		members = append(members, fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":%q,"x":%q}`, kid, b64.Encode(testKey(kid))))
	}
	return `{"keys":[` + strings.Join(append(members, raw...), ",") + `]}`
}

// paserkSet is a PASERK set of one key per name, and its kids.
func paserkSet(names ...string) (string, []string) {
	var members, kids []string
	for _, n := range names {
		kid := paserk.ID(testKey(n))
		members = append(members, fmt.Sprintf(`{"kid":%q,"paserk":%q}`, kid, paserk.Public(testKey(n))))
		kids = append(kids, kid)
	}
	return `{"keys":[` + strings.Join(members, ",") + `]}`, kids
}

func writeTemp(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serve serves body at a URL, or the status alone when it is not 200.
func serve(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if status != http.StatusOK {
			http.Error(w, "no", status)
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func kids(ks *verifier.KeySet) []string {
	var ids []string
	for _, k := range ks.Keys() {
		ids = append(ids, k.ID())
	}
	return ids
}

func TestIsURL(t *testing.T) {
	for loc, want := range map[string]bool{
		"http://127.0.0.1:8080/.well-known/jwks.json": true,
		"https://auth.example/v1/revocations":         true,
		"jwks.json":                                   false,
		"/var/lib/writ/writ.db":                       false,
		"ftp://example/jwks.json":                     false,
		"HTTPS://auth.example/jwks":                   false, // a file named so, as writ verify has always read it
		"":                                            false,
	} {
		if got := remote.IsURL(loc); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", loc, got, want)
		}
	}
}

// TestLoadKeySet: a key set from a file or a URL, with the parser given;
// the keys it ignores are listed by the set.
func TestLoadKeySet(t *testing.T) {
	ctx := context.Background()
	unusable := `{"kty":"EC","crv":"P-384","kid":"p384","x":"AA","y":"AA"}`
	set := jwks([]string{"a", "b"}, unusable)
	pset, pkids := paserkSet("p")
	for _, tc := range []struct {
		name, location string
		parse          remote.Parser
		kids           []string
		ignored        int
	}{
		{"JWKS file", writeTemp(t, "jwks.json", set), verifier.ParseJWKS, []string{"a", "b"}, 1},
		{"JWKS file, nil parser", writeTemp(t, "jwks.json", set), nil, []string{"a", "b"}, 1},
		{"JWKS URL", serve(t, http.StatusOK, set), verifier.ParseJWKS, []string{"a", "b"}, 1},
		{"PASERK file", writeTemp(t, "paserk.json", pset), verifier.ParsePASERKSet, pkids, 0},
		{"PASERK URL", serve(t, http.StatusOK, pset), verifier.ParsePASERKSet, pkids, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := remote.LoadKeySet(ctx, tc.location, tc.parse)
			if err != nil {
				t.Fatal(err)
			}
			if got := kids(ks); !slices.Equal(got, tc.kids) {
				t.Errorf("kids %q, want %q", got, tc.kids)
			}
			if got := ks.Ignored(); len(got) != tc.ignored {
				t.Errorf("ignored %v, want %d", got, tc.ignored)
			}
		})
	}
}

// TestLoadKeySetErrors: what cannot be read or parsed is an error, which
// names the file, or the URL and its status.
func TestLoadKeySetErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	malformed := writeTemp(t, "malformed.json", `{"keys":`)
	private := writeTemp(t, "private.json", jwks([]string{"a"}, `{"kty":"EC","crv":"P-256","kid":"leak","d":"AA"}`))
	huge := writeTemp(t, "huge.json", `{"keys":[`+strings.Repeat(" ", verifier.MaxKeySetSize)+`]}`)
	paserkInJWKS := writeTemp(t, "paserk.json", func() string { s, _ := paserkSet("p"); return s }())
	down := serve(t, http.StatusServiceUnavailable, "")
	for _, tc := range []struct {
		name, location string
		is             []error
		want           string
	}{
		{"missing file", filepath.Join(dir, "none.json"), []error{verifier.ErrKeySet, fs.ErrNotExist}, "none.json"},
		{"directory", dir, []error{verifier.ErrKeySet}, "is a directory"},
		{"malformed", malformed, []error{verifier.ErrKeySet}, malformed + ": "},
		{"private key material", private, []error{verifier.ErrKeySet}, `private key material (member "d")`},
		{"too large", huge, []error{verifier.ErrKeySet}, "larger than"},
		{"PASERK set read as a JWKS", paserkInJWKS, []error{verifier.ErrKeySet}, paserkInJWKS + ": "},
		{"URL down", down, nil, "503"},
		{"URL refused", "http://127.0.0.1:1/jwks.json", nil, "fetch key set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := remote.LoadKeySet(ctx, tc.location, verifier.ParseJWKS)
			if err == nil || ks != nil {
				t.Fatalf("got %v, %v; want an error", ks, err)
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("error %q does not wrap %v", err, target)
				}
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestLoadKeySets: a JWKS and a PASERK set, from a file and a URL, merged,
// with each ignored key reported with its set's location, the JWKS first.
func TestLoadKeySets(t *testing.T) {
	ctx := context.Background()
	jwksFile := writeTemp(t, "jwks.json", jwks([]string{"a"}, `{"kty":"EC","crv":"P-384","kid":"p384","x":"AA","y":"AA"}`))
	pset, pkids := paserkSet("p")
	pset = strings.Replace(pset, `]}`, `,{"kid":"k4.pid.x","paserk":"k3.public.AA"}]}`, 1)
	paserkURL := serve(t, http.StatusOK, pset)

	var warned []string
	ks, err := remote.LoadKeySets(ctx, remote.KeySources{
		JWKS:   jwksFile,
		PASERK: paserkURL,
		OnIgnored: func(location string, k verifier.IgnoredKey) {
			warned = append(warned, location+": "+k.String())
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kids(ks.All), append([]string{"a"}, pkids...); !slices.Equal(got, want) {
		t.Errorf("All: kids %q, want %q", got, want)
	}
	if got := kids(ks.JWT); !slices.Equal(got, []string{"a"}) {
		t.Errorf("JWT: kids %q, want a", got)
	}
	if got := kids(ks.PASETO); !slices.Equal(got, pkids) {
		t.Errorf("PASETO: kids %q, want %q", got, pkids)
	}
	if got, want := ks.Algorithms(), []verifier.Algorithm{verifier.EdDSA, verifier.V4Public}; !slices.Equal(got, want) {
		t.Errorf("Algorithms() = %q, want %q", got, want)
	}
	if len(warned) != 2 || !strings.HasPrefix(warned[0], jwksFile+": key 1 (kid \"p384\")") || !strings.HasPrefix(warned[1], paserkURL+": key 1 (kid \"k4.pid.x\")") {
		t.Errorf("warnings %q; want the P-384 key of the JWKS, then the k3 key of the PASERK set", warned)
	}

	// The keys a set ignores are reported as it is read, even when a later
	// set fails.
	warned = nil
	_, err = remote.LoadKeySets(ctx, remote.KeySources{
		JWKS:   jwksFile,
		PASERK: serve(t, http.StatusNotFound, ""),
		OnIgnored: func(location string, k verifier.IgnoredKey) {
			warned = append(warned, location+": "+k.String())
		},
	})
	if err == nil || len(warned) != 1 {
		t.Errorf("PASERK set not found: %v, warnings %q; want an error after the JWKS's warning", err, warned)
	}

	// One set alone; the other is nil.
	ks, err = remote.LoadKeySets(ctx, remote.KeySources{PASERK: paserkURL})
	if err != nil || ks.JWT != nil || ks.PASETO == nil || !slices.Equal(kids(ks.All), pkids) {
		t.Errorf("PASERK alone: %+v, %v", ks, err)
	}
	if got := ks.Algorithms(); !slices.Equal(got, []verifier.Algorithm{verifier.V4Public}) {
		t.Errorf("PASERK alone: Algorithms() = %q", got)
	}
}

func TestLoadKeySetsErrors(t *testing.T) {
	ctx := context.Background()
	good := writeTemp(t, "jwks.json", jwks([]string{"a"}))
	pset, pkids := paserkSet("p")
	// A JWKS key with the kid of the PASERK key: one id, two keys.
	clash := writeTemp(t, "clash.json", jwks([]string{pkids[0]}))
	for _, tc := range []struct {
		name string
		src  remote.KeySources
		is   error
		want string
	}{
		{"none", remote.KeySources{}, nil, "JWKS or PASERK is required"},
		{"bad PASERK set", remote.KeySources{JWKS: good, PASERK: good}, verifier.ErrKeySet, good + ": "},
		{"missing JWKS", remote.KeySources{JWKS: good + ".gone", PASERK: serve(t, http.StatusOK, pset)}, fs.ErrNotExist, ".gone"},
		{"one kid twice", remote.KeySources{JWKS: clash, PASERK: serve(t, http.StatusOK, pset)}, verifier.ErrKeySet, "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := remote.LoadKeySets(ctx, tc.src)
			if err == nil || ks != nil {
				t.Fatalf("got %v, %v; want an error", ks, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}
