package server_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/writ-dev/writ/internal/server"
)

// BenchmarkPublish measures a run of writ publish over an unchanged list
// of revoked tokens, the steady state of publish --every (the snapshot
// and delta are kept, the manifest is signed again), with the whole JSON
// feed (default) and without it (NoFeed). feed-MB is the size of the feed
// file the default writes on every run.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			site := newSite(b, "https://writ.bench")
			fillList(b, site.db, site.list, n)
			for _, noFeed := range []bool{false, true} {
				name := "feed"
				if noFeed {
					name = "no-feed"
				}
				b.Run(name, func(b *testing.B) {
					cfg := server.PublishConfig{Dir: b.TempDir(), NoFeed: noFeed}
					publishWith(b, site, cfg)
					b.ReportAllocs()
					for b.Loop() {
						if p := publishWith(b, site, cfg); p.NewSnapshot {
							b.Fatal("a new snapshot for an unchanged list")
						}
					}
					var size int64
					if fi, err := os.Stat(filepath.Join(cfg.Dir, filepath.FromSlash(server.PublishedFeedPath))); err == nil {
						size = fi.Size()
					}
					b.ReportMetric(float64(size)/1e6, "feed-MB")
				})
			}
		})
	}
}
