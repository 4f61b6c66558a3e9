package audit

import "github.com/writ-dev/writ/internal/text"

// ErrNotPlain is CheckActor's error for an actor that is not plain text
// (control, invisible or line-breaking characters) or is too long. Every
// package that records changes refuses such an actor with an error
// wrapping it.
var ErrNotPlain = text.ErrNotPlain
