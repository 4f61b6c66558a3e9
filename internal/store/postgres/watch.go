package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

// changesChannel is the LISTEN/NOTIFY channel on which a write
// transaction announces, as it commits, what it changed (see Tx.Commit):
// its payload names the concerns, as payload writes them.
const changesChannel = "writ_changes"

// The names of the concerns in a notification's payload.
const (
	keysChanged        = "keys"
	revocationsChanged = "revocations"
)

// payload names the concerns of c, separated by spaces.
func payload(c store.Change) string {
	var names []string
	if c&store.ChangedKeys != 0 {
		names = append(names, keysChanged)
	}
	if c&store.ChangedRevocations != 0 {
		names = append(names, revocationsChanged)
	}
	return strings.Join(names, " ")
}

// parsePayload reads a payload that payload wrote. Anyone who may connect
// can notify on the channel: a payload that names no concern, or one
// unknown, stands for every concern, which costs a reread and misses
// nothing.
func parsePayload(p string) store.Change {
	var c store.Change
	for _, name := range strings.Fields(p) {
		switch name {
		case keysChanged:
			c |= store.ChangedKeys
		case revocationsChanged:
			c |= store.ChangedRevocations
		default:
			return store.ChangedKeys | store.ChangedRevocations
		}
	}
	if c == 0 {
		return store.ChangedKeys | store.ChangedRevocations
	}
	return c
}

// watchName is the application_name of a watch's connection, which tells
// it in pg_stat_activity (unless the URL names the application).
const watchName = "writ watch"

// A watch whose connection failed connects again after watchRetryMin,
// doubling the wait after each failure up to watchRetryMax; the wait
// starts again from watchRetryMin once a connection has lasted
// watchRetryMax.
const (
	watchRetryMin = 50 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// Watch listens for the changes that write transactions announce as they
// commit (see store.Watcher), on a connection of its own, outside the
// pool: LISTEN holds its connection. When that connection fails it
// connects again (waiting from watchRetryMin up to watchRetryMax between
// attempts, for as long as ctx lasts), then announces every concern.
//
// LISTEN needs a session of its own: through a pooler that hands out
// connections per transaction (PgBouncer's transaction mode), the
// notifications go to whichever session next holds the connection, and
// the watch hears nothing; point the URL at PostgreSQL, or a session-mode
// pool, for the changes to be announced.
func (d *DB) Watch(ctx context.Context) (store.Changes, error) {
	conn, err := d.listen(ctx)
	if err != nil {
		return store.Changes{}, err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		closeConn(conn)
		return store.Changes{}, errors.New("watch: the database is closed")
	}
	d.watchers.Add(1)
	d.mu.Unlock()
	keys, revocations := make(chan struct{}, 1), make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.closing, cancel)
	go func() {
		defer d.watchers.Done()
		defer cancel()
		defer stop()
		defer close(keys)
		defer close(revocations)
		d.watch(ctx, conn, func(c store.Change) {
			if c&store.ChangedKeys != 0 {
				announce(keys)
			}
			if c&store.ChangedRevocations != 0 {
				announce(revocations)
			}
		})
	}()
	return store.Changes{Keys: keys, Revocations: revocations}, nil
}

// announce leaves a value in ch unless one waits there already.
func announce(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// listen connects, as the pool does, and listens on changesChannel.
func (d *DB) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg := d.pool.Config().ConnConfig
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = watchName
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, wrapWatch(err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+changesChannel); err != nil {
		closeConn(conn)
		return nil, wrapWatch(err)
	}
	return conn, nil
}

func wrapWatch(err error) error { return fmt.Errorf("watch: %w", err) }

// watch hands each notification on conn to changed, connecting again
// whenever the connection fails, until ctx is done.
func (d *DB) watch(ctx context.Context, conn *pgx.Conn, changed func(store.Change)) {
	wait := watchRetryMin
	for {
		since := time.Now()
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			changed(parsePayload(n.Payload))
		}
		closeConn(conn)
		if time.Since(since) >= watchRetryMax {
			wait = watchRetryMin
		}
		for conn = nil; conn == nil; {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, watchRetryMax)
			conn, _ = d.listen(ctx)
		}
		// What was committed while the connection was down went
		// unannounced.
		changed(store.ChangedKeys | store.ChangedRevocations)
	}
}

// closeConn closes conn, waiting a second at most for the server.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}
