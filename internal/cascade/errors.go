package cascade

import "errors"

// ErrOverlap: Build was given an id both as revoked and as not.
var ErrOverlap = errors.New("cascade: an id is both revoked and not")

// ErrMalformed: Parse refused its input.
var ErrMalformed = errors.New("cascade: malformed filter")

// ErrTooLarge: Build's filter would be larger than MaxSize (or one level
// larger than a level's bit count can say), so Parse could not read it.
var ErrTooLarge = errors.New("cascade: filter too large")

// ErrSeparation: Build could not separate the ids within maxLevels levels
// and maxAttempts attempts per level. For distinct ids it does not happen
// in practice (each failed attempt is as likely as a fair coin landing the
// same way for every id of a level); it bounds Build instead of looping.
var ErrSeparation = errors.New("cascade: ids not separated within the level bounds")
