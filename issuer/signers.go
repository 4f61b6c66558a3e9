package issuer

import (
	"context"
	"sync"
	"time"

	"github.com/writ-dev/writ/keys"
)

// signerMaxAge bounds how long a key from the cache of signers is used
// before SignerSource.Signer is asked, and checks the key set, again.
const signerMaxAge = time.Second

// signers caches the key that SignerSource.Signer last returned for each
// format. Reading the active key and checking the key set's seal for every
// token was a tenth of the server's CPU under load.
//
// A cached key only ever signs a token that is recorded while that key is
// still active: the group commit reads each key's state in the transaction
// that records its tokens, and refuses a cached key's token unless the key
// is active then (errKeyStale), which also drops the key from the cache. So
// a token is signed, as without the cache, by a key that was active at
// some moment after Issue was called: a rotation or a compromise that
// finished before is never missed, from this process or another.
type signers struct {
	mu   sync.Mutex
	keys map[keys.Format]cachedSigner
}

type cachedSigner struct {
	key  *keys.Key
	read time.Time // when Signer was asked for it
}

// get returns the key to sign a token of format with, and whether it comes
// from the cache. Unless fresh, a key read less than signerMaxAge before
// now is taken from the cache.
func (c *signers) get(ctx context.Context, src SignerSource, format keys.Format, fresh bool, now time.Time) (*keys.Key, bool, error) {
	if !fresh {
		c.mu.Lock()
		s, ok := c.keys[format]
		c.mu.Unlock()
		if ok && !now.Before(s.read) && now.Sub(s.read) < signerMaxAge {
			return s.key, true, nil
		}
	}
	key, err := src.Signer(ctx, format)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[keys.Format]cachedSigner{}
	}
	c.keys[format] = cachedSigner{key: key, read: now}
	return key, false, nil
}

// drop removes the key kid from the cache.
func (c *signers) drop(kid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for f, s := range c.keys {
		if s.key.ID() == kid {
			delete(c.keys, f)
		}
	}
}
