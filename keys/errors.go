package keys

import (
	"errors"

	"github.com/writ-dev/writ/internal/fsperm"
	"github.com/writ-dev/writ/revocation"
)

var (
	// ErrMasterKey reports a master key that is malformed or does not
	// open the keyring's sealed keys.
	ErrMasterKey = errors.New("wrong or invalid master key")
	// ErrNotPrivate is returned by ReadMasterKeyFile for a master key
	// file that others than its owner may read, or that another user owns.
	ErrNotPrivate = fsperm.ErrNotPrivate
	// ErrNoActiveKey is returned when a format has no active key.
	ErrNoActiveKey = errors.New("no active key")
	// ErrNoNextKey: the format has no published next key to activate.
	ErrNoNextKey = errors.New("no next key")
	// ErrUnknownKey is returned for a kid the keyring does not hold. It is
	// revocation.ErrUnknownKey: one idea, one value.
	ErrUnknownKey = revocation.ErrUnknownKey
	// ErrUntrusted is returned for a key row that the master key does not
	// vouch for: written or changed by someone without the master key.
	ErrUntrusted = errors.New("key row not bound to the master key")
	// ErrTooManyKeys is returned when a new key would make a key set
	// larger than writ's verifier accepts (verifier.MaxKeys).
	ErrTooManyKeys = errors.New("key set full")
	// ErrTooEarly: the next key has not been published for
	// Policy.MinPublished, Policy.PublishFloor or a recorded publication
	// lag.
	ErrTooEarly = errors.New("the next key has not been published long enough")
	// ErrPreviousMasterKeyInUse: FinishMasterKeyRotation found that a
	// process given the previous master key wrote to the keyring lately.
	ErrPreviousMasterKeyInUse = errors.New("a process on the previous master key was seen")
)
