package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/writ-dev/writ/internal/fsperm"
)

// MasterKeySize is the size of a master key: an AES-256 key.
const MasterKeySize = 32

// MasterKey is the key-encryption key that seals private keys at rest with
// AES-256-GCM, and from which the key that binds each key row to it (an
// HMAC-SHA256 key, see binding.go) is derived. Its String method never
// shows the key.
type MasterKey struct {
	raw    []byte // sealed under the previous key while a rotation to this one is under way
	aead   cipher.AEAD
	rowKey []byte
}

// rowKeyLabel is the HKDF-SHA256 info from which the key-row binding key is
// derived: a key of its own, never the sealing key.
const rowKeyLabel = "writ key row binding v1"

// ParseMasterKey reads a master key encoded as standard base64 (44
// characters), as GenerateMasterKeyFile writes it and WRIT_MASTER_KEY holds it.
func ParseMasterKey(encoded string) (*MasterKey, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(encoded))
	if err != nil || len(raw) != MasterKeySize {
		// Never quote the input: it is meant to be a secret.
		return nil, fmt.Errorf("%w: want %d bytes in standard base64", ErrMasterKey, MasterKeySize)
	}
	return newMasterKey(raw)
}

func newMasterKey(raw []byte) (*MasterKey, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	rowKey, err := hkdf.Key(sha256.New, raw, nil, rowKeyLabel, sha256.Size)
	if err != nil {
		return nil, err
	}
	return &MasterKey{raw: raw, aead: aead, rowKey: rowKey}, nil
}

// GenerateMasterKeyFile writes a fresh master key to path, which must not
// exist, with mode 0600.
func GenerateMasterKeyFile(path string) (*MasterKey, error) {
	raw := make([]byte, MasterKeySize)
	rand.Read(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create master key file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write master key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write master key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write master key file: %w", err)
	}
	return newMasterKey(raw)
}

// ReadMasterKeyFile reads a master key file. A file that others than its
// owner may read, that another user owns, or that is not a regular file is
// refused (fsperm.ErrNotPrivate), however path reaches it; a named pipe
// at once, without waiting for a writer.
func ReadMasterKeyFile(path string) (*MasterKey, error) {
	f, err := fsperm.Open(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	mk, err := ParseMasterKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("master key file %q: %w", path, err)
	}
	return mk, nil
}

// String implements fmt.Stringer without revealing the key.
func (m *MasterKey) String() string { return "writ master key (redacted)" }

// GoString implements fmt.GoStringer (%#v) without revealing the key.
func (m *MasterKey) GoString() string { return m.String() }

// seal encrypts plaintext bound to aad: a nonce followed by the ciphertext.
func (m *MasterKey) seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(plaintext)+m.aead.Overhead())
	rand.Read(nonce)
	return m.aead.Seal(nonce, nonce, plaintext, aad)
}

// open decrypts what seal made with the same aad.
func (m *MasterKey) open(sealed, aad []byte) ([]byte, error) {
	n := m.aead.NonceSize()
	if len(sealed) < n+m.aead.Overhead() {
		return nil, ErrMasterKey
	}
	pt, err := m.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrMasterKey
	}
	return pt, nil
}

// opens reports whether sealed opens under m with aad.
func (m *MasterKey) opens(sealed, aad []byte) bool {
	_, err := m.open(sealed, aad)
	return err == nil
}
