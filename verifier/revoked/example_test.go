package revoked_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// exampleFeed stands for a real feed: revocation.List next to writ's
// database, or remote.NewFeed for a writ server's signed feed.
type exampleFeed struct{}

func (exampleFeed) Changes(_ context.Context, since int64) (*revoked.Batch, error) {
	if since > 0 {
		return &revoked.Batch{Seq: 2, Epoch: "example"}, nil
	}
	exp := time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC).Unix()
	return &revoked.Batch{Seq: 2, Epoch: "example",
		Tokens:   []revoked.RevokedToken{{ID: revoked.TokenIDOf("AAECAwQFBgcICQoLDA0ODw"), ExpiresAt: exp}},
		Subjects: []revoked.SubjectCutoff{{Subject: "mallory", IssuedBefore: exp - 3600, ExpiresAt: exp}},
	}, nil
}

// A snapshot refreshed in the background, failing closed once its data is
// more than a minute old, is the verifier's RevocationChecker.
func ExampleNewSnapshot() {
	ctx := context.Background()
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{
		Feed:         exampleFeed{},
		Refresh:      10 * time.Second,
		MaxStaleness: time.Minute,
		Now:          func() time.Time { return time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC) }, // omit in production
	})
	if err != nil {
		panic(err) // the first read failed
	}
	defer snap.Close()
	// verifier.Config{..., Revocation: snap} consults it for every token.
	var _ verifier.RevocationChecker = snap

	iat := time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)
	for _, c := range []*verifier.Claims{
		{ID: "AAECAwQFBgcICQoLDA0ODw", Subject: "alice", IssuedAt: iat},
		{ID: "AQECAwQFBgcICQoLDA0ODw", Subject: "mallory", IssuedAt: iat},
		{ID: "AgECAwQFBgcICQoLDA0ODw", Subject: "bob", IssuedAt: iat},
	} {
		switch err := snap.CheckRevocation(ctx, c); {
		case errors.Is(err, verifier.ErrRevoked):
			fmt.Println(c.Subject, "revoked:", err)
		case errors.Is(err, revoked.ErrStale):
			fmt.Println("revocation data too old: refuse, or answer 503")
		case err == nil:
			fmt.Println(c.Subject, "not revoked")
		}
	}
	// Output:
	// alice revoked: token revoked: token "AAECAwQFBgcICQoLDA0ODw"
	// mallory revoked: token revoked: every token of "mallory" issued before 2026-01-01T12:00:00Z
	// bob not revoked
}
