package writ

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// DefaultMasterKeyFile returns the master key file of the database at
// path when none is named: path + ".key", beside it, which Init creates
// (mode 0600) with a new database.
func DefaultMasterKeyFile(path string) string { return path + ".key" }

// InitConfig says what Init creates or opens.
type InitConfig struct {
	// Config is the database to open, or to create (Create is implied,
	// ReadOnlyOK refused). A nil MasterKey means the key in
	// MasterKeyFile.
	Config
	// MasterKeyFile is the key-encryption key file, read or (with a new
	// database) created when Config.MasterKey is nil; "" means
	// DefaultMasterKeyFile(Config.Path). A PostgreSQL database (Config.URL)
	// has no path to put it beside: it needs MasterKey or MasterKeyFile. The writ command takes
	// Config.MasterKey from WRIT_MASTER_KEY when it is set, and this file
	// from --master-key-file otherwise.
	MasterKeyFile string
	// JWTAlgorithm is the algorithm of the JWT keys Init adds: EdDSA,
	// ES256, RS256 or PS256; "" means EdDSA. PASETO keys are v4.public.
	JWTAlgorithm verifier.Algorithm
}

// InitResult says what Init did.
type InitResult struct {
	// MasterKeyFile is the master key file Init used; "" when the key was
	// given (InitConfig.Config.MasterKey).
	MasterKeyFile string
	// CreatedMasterKeyFile reports that Init created MasterKeyFile (mode
	// 0600), which must be backed up: without it the keys cannot be used.
	// It is reported even when Init then fails, if the file stays: Init
	// removes the file it created when it could not create the database.
	CreatedMasterKeyFile bool
	// CreatedDatabase reports that Init created the database, or made an
	// empty file into one. It is reported even when adding keys then fails.
	CreatedDatabase bool
	// AddedKeys are the keys Init generated: for each format an active and
	// a next key, where they were missing. None on a complete database.
	AddedKeys []*keys.Key
}

// Init creates what is missing of a writ database, as writ init and the
// first start of writ serve do, and returns it open: the database (see
// Config.Create), with a new database its master key file unless the key
// is given, and for each format (JWT and PASETO) an active signing key and
// a published next key (keys.Ring.Ensure). On a complete database it adds
// nothing, so it is safe to run at every start.
//
// A database that exists without its master key file is refused
// (ErrNoMasterKeyFile). A master key file that Init created for a database
// it could not create is removed, so that no later Init takes it for that
// database's key; a key file that was there before is never removed.
//
// On failure the DB is nil, and the InitResult still reports what Init
// created.
func Init(ctx context.Context, cfg InitConfig) (*DB, InitResult, error) {
	var res InitResult
	switch {
	case (cfg.Path == "") == (cfg.URL == "") || cfg.Issuer == "":
		return nil, res, errors.New("writ: one of InitConfig.Path and URL, and Issuer, are required")
	case cfg.URL != "" && cfg.MasterKey == nil && cfg.MasterKeyFile == "":
		return nil, res, ErrNoMasterKeyForURL
	case cfg.ReadOnlyOK:
		return nil, res, errors.New("writ: Init writes: InitConfig.ReadOnlyOK must be unset")
	}
	alg := cfg.JWTAlgorithm
	if alg == "" {
		alg = verifier.EdDSA
	}
	switch alg {
	case verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256:
	default:
		return nil, res, fmt.Errorf("writ: JWT algorithm %q: want EdDSA, ES256, RS256 or PS256", alg)
	}
	newDB, err := cfg.noDatabase(ctx)
	if err != nil {
		return nil, res, err
	}
	var created os.FileInfo // the master key file this call created
	if cfg.MasterKey == nil {
		file := cfg.MasterKeyFile
		if file == "" {
			file = DefaultMasterKeyFile(cfg.Path)
		}
		res.MasterKeyFile = file
		if _, serr := os.Stat(file); errors.Is(serr, fs.ErrNotExist) {
			if !newDB {
				return nil, res, &noKeyFileError{db: cfg.name(), file: file}
			}
			if cfg.MasterKey, err = keys.GenerateMasterKeyFile(file); err != nil {
				return nil, res, err
			}
			created, _ = os.Lstat(file)
		} else if cfg.MasterKey, err = keys.ReadMasterKeyFile(file); err != nil {
			return nil, res, err
		}
	}
	cfg.Create = true
	w, err := Open(ctx, cfg.Config)
	if err != nil && created != nil {
		if none, nerr := cfg.noDatabase(ctx); nerr != nil || !none {
			created = nil // the database is there now, or may be: keep its key
		}
	}
	if err != nil && created != nil {
		// A key for a database that was not made would be taken for
		// that database's key by the next Init: remove it, if it is
		// still the one created above.
		if fi, lerr := os.Lstat(res.MasterKeyFile); lerr == nil && os.SameFile(fi, created) && os.Remove(res.MasterKeyFile) == nil {
			created = nil
		}
	}
	res.CreatedMasterKeyFile = created != nil
	if err != nil {
		return nil, res, err
	}
	res.CreatedDatabase = newDB
	if res.AddedKeys, err = w.Keys.Ensure(ctx, alg); err != nil {
		w.Close()
		return nil, res, err
	}
	return w, res, nil
}

// noDatabase reports whether cfg names no database yet: for SQLite no
// file, or an empty one (see Config.Create); for PostgreSQL a database
// without writ's schema.
func (cfg *Config) noDatabase(ctx context.Context) (bool, error) {
	if cfg.URL == "" {
		fi, err := os.Stat(cfg.Path)
		return errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0, nil
	}
	s, err := postgres.Open(ctx, cfg.URL, false)
	if errors.Is(err, store.ErrNoDatabase) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, s.Close()
}

// name names cfg's database in messages: its path, or its URL without
// its password.
func (cfg *Config) name() string {
	if cfg.URL == "" {
		return cfg.Path
	}
	return RedactURL(cfg.URL)
}

// RedactURL returns a database URL with its passwords, if any, replaced
// by "xxxxx", to be shown or logged: the user information's, and the
// password and sslpassword parameters of its query, which PostgreSQL's
// clients read too.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(a database URL that does not parse)"
	}
	if u.RawQuery != "" {
		params := strings.Split(u.RawQuery, "&")
		for n, p := range params {
			if name, _, _ := strings.Cut(p, "="); isPasswordParam(name) {
				params[n] = name + "=xxxxx"
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	return u.Redacted()
}

// isPasswordParam reports whether name, a URL query parameter's name as
// written (escaped), may name a password: any spelling of password or
// sslpassword, or a name that does not unescape.
func isPasswordParam(name string) bool {
	n, err := url.QueryUnescape(name)
	n = strings.ToLower(n)
	return err != nil || n == "password" || n == "sslpassword"
}

// noKeyFileError is ErrNoMasterKeyFile for a database and its key file.
type noKeyFileError struct{ db, file string }

func (e *noKeyFileError) Error() string {
	return fmt.Sprintf("database %q exists but its master key file %q does not", e.db, e.file)
}

func (e *noKeyFileError) Is(target error) bool { return target == ErrNoMasterKeyFile }
