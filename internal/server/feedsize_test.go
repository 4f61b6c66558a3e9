package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/accesstoken"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier/remote"
)

// TestFeedFitsRemoteLimit: a feed document of the list sizes that remote
// verifiers promise to follow (remote.MaxFeedTokens and MaxFeedOthers),
// every entry at its longest, is no larger than remote.MaxFeedSize. The
// entries are encoded by the server's own encoder and scaled; the rest of
// the document (head, JWS header, signature) is a real one at its longest.
// Before, remote verifiers refused the feed of 1.03 million tokens.
func TestFeedFitsRemoteLimit(t *testing.T) {
	const sample = 1000
	long := strings.Repeat("<", 256) // the longest subject or kid, escaped as \u003c
	entries := func(tokens, subjects, keys int) int {
		b := &revocation.Batch{}
		for range tokens {
			var id revocation.TokenID
			rand.Read(id[:])
			b.Tokens = append(b.Tokens, revocation.RevokedToken{ID: id, EffectiveAt: math.MaxUint32, ExpiresAt: math.MaxUint32})
		}
		for range subjects {
			b.Subjects = append(b.Subjects, revocation.SubjectCutoff{Subject: long, IssuedBefore: math.MinInt64, ExpiresAt: math.MinInt64})
		}
		for range keys {
			b.Keys = append(b.Keys, revocation.RevokedKey{KID: long, ExpiresAt: math.MinInt64})
		}
		return len(appendFeedEntries(nil, b))
	}
	empty := entries(0, 0, 0)
	perToken := float64(entries(sample, 0, 0)-empty) / sample
	perOther := float64(max(entries(0, sample, 0), entries(0, 0, sample))-empty) / sample
	head, err := json.Marshal(feedHead{Issuer: "https://" + strings.Repeat("a", 2000), IssuedAt: math.MinInt64,
		Epoch: strings.Repeat("f", 32), Since: math.MinInt64, Seq: math.MinInt64, NextUpdate: math.MinInt64})
	if err != nil {
		t.Fatal(err)
	}
	payload := len(head) + int(math.Ceil(perToken*remote.MaxFeedTokens+perOther*remote.MaxFeedOthers)) + empty
	// The longest header, with a kid of 128 bytes (every alg name has 5
	// characters), and the longest signature, of an RSA key of 8192 bits.
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := accesstoken.SignJWT("EdDSA", strings.Repeat("k", 128), FeedType, key, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	header := strings.Split(doc, ".")[0]
	size := len(header) + 1 + base64.RawURLEncoding.EncodedLen(payload) + 1 + base64.RawURLEncoding.EncodedLen(8192/8)
	t.Logf("a token entry %.0f bytes, a subject or key entry %.0f; the longest document %d bytes, the limit %d", perToken, perOther, size, remote.MaxFeedSize)
	if size > remote.MaxFeedSize {
		t.Errorf("the feed of %d tokens and %d subjects or keys takes up to %d bytes, above remote.MaxFeedSize (%d)",
			remote.MaxFeedTokens, remote.MaxFeedOthers, size, remote.MaxFeedSize)
	}
}
