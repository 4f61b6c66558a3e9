package usage

import "errors"

// The errors a Reporter passes to Config.OnError. None holds the token.
var (
	// ErrRefused: writ serve refused a batch as malformed (400, 413 or
	// 422). The batch is dropped, its uses counted in Stats.Refused: sent
	// again, it would be refused again.
	ErrRefused = errors.New("usage report refused")
	// ErrStatus: writ serve answered a batch with another status than 202
	// or those of ErrRefused: 401 or 403 (a token without the scope
	// writ:usage, expired or revoked), 429 or a server error. The batch is
	// sent again after a backoff.
	ErrStatus = errors.New("usage report not accepted")
)
