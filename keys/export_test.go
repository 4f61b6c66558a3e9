package keys

import (
	"context"

	"github.com/writ-dev/writ/internal/store"
)

// SealUnboundCheck returns a master-key check value of the kind writ wrote
// before key rows were bound to the master key, to build such databases in
// tests.
func SealUnboundCheck(m *MasterKey) []byte {
	return m.seal([]byte(checkUnbound), checkAAD)
}

// Unseals reports whether sealed, the private half of kid as stored,
// opens under m.
func Unseals(m *MasterKey, kid string, sealed []byte) bool {
	_, err := m.open(sealed, keyAAD(kid))
	return err == nil
}

// RawKey returns m's bytes.
func RawKey(m *MasterKey) []byte { return m.raw }

// RotateIfDue is the rotation RotateDue runs for format: it rotates only
// if the active key, read within the rotation's transaction, is due.
func RotateIfDue(ctx context.Context, r *Ring, format Format) (*Rotation, error) {
	return r.rotate(ctx, format, RotateOptions{}, true)
}

// ForgeSeal returns the seal of generation gen listing entries under m,
// as whoever holds m could write it.
func ForgeSeal(m *MasterKey, gen uint64, entries map[string][]byte) []byte {
	return m.appendSeal(gen, entries)
}

// ForgeMAC returns the MAC of w under m.
func ForgeMAC(m *MasterKey, w *store.KeyRow) []byte { return m.rowMAC(w) }
