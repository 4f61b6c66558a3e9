package feed_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"math"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/accesstoken"
	"github.com/writ-dev/writ/internal/feed"
)

// TestMaxSize: a feed document of the list sizes that remote verifiers
// promise to follow (MaxTokens and MaxOthers), every entry at its longest,
// is no larger than MaxSize. The entries are encoded by the encoder and
// scaled; the rest of the document (head, JWS header, signature) is a real
// one at its longest. Before, remote verifiers refused the feed of 1.03
// million tokens.
func TestMaxSize(t *testing.T) {
	const sample = 1000
	long := strings.Repeat("<", 256) // the longest subject or kid, escaped as \u003c
	entries := func(tokens, subjects, keys int) int {
		b := &feed.Batch{}
		for range tokens {
			var id feed.TokenID
			rand.Read(id[:])
			b.Tokens = append(b.Tokens, feed.RevokedToken{ID: id, EffectiveAt: math.MaxUint32, ExpiresAt: math.MaxUint32})
		}
		for range subjects {
			b.Subjects = append(b.Subjects, feed.SubjectCutoff{Subject: long, IssuedBefore: math.MinInt64, ExpiresAt: math.MinInt64})
		}
		for range keys {
			b.Keys = append(b.Keys, feed.RevokedKey{KID: long, ExpiresAt: math.MinInt64})
		}
		return len(feed.AppendEntries(nil, b))
	}
	empty := entries(0, 0, 0)
	perToken := float64(entries(sample, 0, 0)-empty) / sample
	perOther := float64(max(entries(0, sample, 0), entries(0, 0, sample))-empty) / sample
	head := feed.AppendHead(nil, &feed.Head{Issuer: "https://" + strings.Repeat("a", 2000), IssuedAt: math.MinInt64,
		Epoch: strings.Repeat("f", 32), Since: math.MinInt64, Seq: math.MinInt64, NextUpdate: math.MinInt64})
	payload := len(head) + int(math.Ceil(perToken*feed.MaxTokens+perOther*feed.MaxOthers)) + empty
	// The longest header, with a kid of 128 bytes (every alg name has 5
	// characters), and the longest signature, of an RSA key of 8192 bits.
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := accesstoken.SignJWT("EdDSA", strings.Repeat("k", 128), feed.Type, key, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	header := strings.Split(doc, ".")[0]
	size := len(header) + 1 + base64.RawURLEncoding.EncodedLen(payload) + 1 + base64.RawURLEncoding.EncodedLen(8192/8)
	t.Logf("a token entry %.0f bytes, a subject or key entry %.0f; the longest document %d bytes, the limit %d", perToken, perOther, size, feed.MaxSize)
	if size > feed.MaxSize {
		t.Errorf("the feed of %d tokens and %d subjects or keys takes up to %d bytes, above MaxSize (%d)",
			feed.MaxTokens, feed.MaxOthers, size, feed.MaxSize)
	}
}
