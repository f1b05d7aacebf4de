// Package sqlite stores phieu's domain in one SQLite file: the unit tree,
// respondents and campaigns. It implements the service interfaces of package
// store and knows nothing of how they are presented.
//
// # One writer
//
// SQLite allows one writer at a time. DB keeps two connection pools on the
// same file:
//
//   - a write pool of exactly one connection whose transactions start with
//     BEGIN IMMEDIATE (_txlock=immediate), so a write transaction takes the
//     write lock before it reads anything. Writers in this process queue for
//     that connection; writers in other processes (the CLI beside the daemon)
//     wait on busy_timeout. No transaction ever fails half way because it
//     read first and could not upgrade its lock afterwards.
//   - a read pool of several connections opened with query_only, whose
//     deferred transactions read a consistent snapshot thanks to WAL and never
//     block the writer or each other.
//
// Never start a second write transaction while holding one: it would wait
// for the connection its own goroutine holds.
//
// # Stored forms
//
// Instants are TEXT in UTC, RFC 3339 with exactly nine fraction digits
// ("2025-07-01T01:02:03.000000000Z"): readable in the sqlite3 shell, and
// fixed-width so that comparing the text orders the instants. Civil dates
// (store.Date) are TEXT yyyy-mm-dd, NULL when unset. Columns are declared
// TEXT, never DATETIME, so the driver hands them back as strings untouched.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3" // the "sqlite3" driver, and its error codes

	"github.com/phieu/phieu/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// timeFormat is how instants are stored: RFC 3339, UTC, fixed width.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

// nowPrecision is what a transaction's clock is truncated to, so that a value
// read back equals the value written in every representation phieu uses.
const nowPrecision = time.Microsecond

// DB is a phieu database file.
type DB struct {
	// DSN is the path of the database file. It is created if missing.
	DSN string

	// Now returns the current time; rows are stamped with it. Tests replace
	// it. Defaults to time.Now.
	Now func() time.Time

	// LinkKey ties responses to members (see link.go). It is derived from
	// the installation secret, held in memory only, and set by the caller
	// before Open. Without it answers can be stored nowhere and read only
	// de-identified.
	LinkKey []byte

	links linkCache // campaign id -> member link -> respondent id

	write *sql.DB // one connection, BEGIN IMMEDIATE
	read  *sql.DB // query_only pool

	stmts sync.Map // stmtKey -> *sql.Stmt: statements of the hot paths, prepared once
}

type stmtKey struct {
	writable bool
	query    string
}

// stmt returns query prepared once on the write or read pool. Hot paths
// (completing outbox messages, reading a campaign's state) would otherwise
// spend more time preparing statements than running them. A write
// statement must be fetched before beginning the transaction that uses it
// (tx.StmtContext): preparing needs the pool's only connection.
func (db *DB) stmt(ctx context.Context, writable bool, query string) (*sql.Stmt, error) {
	key := stmtKey{writable, query}
	if st, ok := db.stmts.Load(key); ok {
		return st.(*sql.Stmt), nil
	}
	pool := db.read
	if writable {
		pool = db.write
	}
	if pool == nil {
		return nil, errors.New("sqlite: database is not open")
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(key, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// warm prepares and caches write statements, so a transaction can then
// take them with Tx.stmt. Call it before BeginTx: preparing needs the write
// pool's only connection.
func (db *DB) warm(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		if _, err := db.stmt(ctx, true, q); err != nil {
			return err
		}
	}
	return nil
}

// stmt returns query as a statement of this write transaction: the cached
// one if warmed, else one prepared for this transaction only.
func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := tx.db.stmts.Load(stmtKey{true, query}); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	return tx.PrepareContext(ctx, query)
}

// exec runs query as a statement of the transaction (see stmt).
func (tx *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow runs query as a statement of the transaction (see stmt).
func (tx *Tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return tx.QueryRowContext(ctx, query, args...) // reports the same error on Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// NewDB returns a DB for the file at dsn. Call Open before use.
func NewDB(dsn string) *DB {
	return &DB{DSN: dsn, Now: time.Now}
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.DSN }

// Open opens the file, creating it and its directory if needed, and applies
// any pending migrations. It refuses a database written by a newer phieu.
func (db *DB) Open() error {
	return db.open(context.Background())
}

func (db *DB) open(ctx context.Context) (err error) {
	if db.DSN == "" {
		return errors.New("sqlite: database path required")
	}
	if db.write != nil {
		return fmt.Errorf("sqlite: %s is already open", db.DSN)
	}
	if db.DSN == ":memory:" || strings.HasPrefix(db.DSN, "file:") {
		return fmt.Errorf("sqlite: %q: give a plain file path", db.DSN)
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if dir := filepath.Dir(db.DSN); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()

	// Parameters are those read by mattn/go-sqlite3's SQLiteDriver.Open
	// (v1.14.53). journal_mode=WAL is stored in the file, so setting it once
	// through the writer is enough; readers only need a busy timeout for the
	// rare moments (checkpoint, recovery) when WAL readers wait. The writer
	// gets a page cache of up to 16 MiB (negative: KiB): enough for the hot
	// index pages of a 100,000-row roster import (measured: a larger cache
	// bought no speed and cost 50 MB of peak memory).
	if db.write, err = sql.Open("sqlite3", dsn(db.DSN, url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"on"},
		"_busy_timeout": {"5000"},
		"_txlock":       {"immediate"},
		"_cache_size":   {"-16384"},
	})); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)

	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", db.DSN, err)
	}
	var mode string
	if err := db.write.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: %s: journal mode is %q, not WAL (is the file on a network share?)", db.DSN, mode)
	}
	if err := db.migrate(ctx); err != nil {
		return err
	}
	if err := db.relink(ctx); err != nil {
		return err
	}

	if db.read, err = sql.Open("sqlite3", dsn(db.DSN, url.Values{
		"_synchronous":  {"NORMAL"},
		"_foreign_keys": {"on"},
		"_busy_timeout": {"5000"},
		"_query_only":   {"on"},
	})); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(2, min(runtime.GOMAXPROCS(0), 8))
	db.read.SetMaxOpenConns(n)
	db.read.SetMaxIdleConns(n)
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", db.DSN, err)
	}
	return nil
}

// dsn appends driver parameters to a file path. Characters SQLite would
// read as URI syntax make the path a file: URI, escaped.
func dsn(path string, params url.Values) string {
	if strings.ContainsAny(path, "?#%") {
		path = "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	}
	return path + "?" + params.Encode()
}

// Close closes the database. It is safe to call more than once.
func (db *DB) Close() error {
	db.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		db.stmts.Delete(k)
		return true
	})
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
		db.read = nil
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
		db.write = nil
	}
	return errors.Join(errs...)
}

// Tx is a transaction that carries the instant its rows are stamped with.
type Tx struct {
	*sql.Tx
	db  *DB
	now time.Time
}

// BeginTx starts a transaction: on the single write connection, taking the
// write lock at once, if writable; on the read pool otherwise.
func (db *DB) BeginTx(ctx context.Context, writable bool) (*Tx, error) {
	pool := db.read
	if writable {
		pool = db.write
	}
	if pool == nil {
		return nil, errors.New("sqlite: database is not open")
	}
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		if isBusy(err) {
			return nil, fmt.Errorf("%w (%s)", err, lockedHint)
		}
		return nil, err
	}
	return &Tx{Tx: tx, db: db, now: db.Now().UTC().Truncate(nowPrecision)}, nil
}

// Now returns the transaction's clock reading.
func (tx *Tx) Now() time.Time { return tx.now }

// Migrations

// migration is one embedded schema change.
type migration struct {
	version int
	name    string // file name
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4,})_[a-z0-9_]+\.sql$`)

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s: name must be NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if prev, ok := seen[v]; ok {
			return nil, fmt.Errorf("migration files %s and %s have the same version", prev, e.Name())
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(migrationFS, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the migrations the database lacks, each in its own write
// transaction that re-checks the version table under the write lock, so two
// processes opening a new file at once apply each migration once. A file
// may hold several statements. Running inside a transaction, a migration
// cannot switch foreign_keys off; one that rebuilds a table must keep the
// references valid at each statement (or this mechanism must learn to run
// such a file outside a transaction).
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	known := 0
	if len(ms) > 0 {
		known = ms[len(ms)-1].version
	}
	// Read first: an up-to-date database needs no write lock to open, so a
	// command opening it is not held up by a daemon's long transaction.
	var current int
	if err := db.write.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err == nil && current == known {
		return nil
	}
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	var newest int
	if err := db.write.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if newest > known {
		return fmt.Errorf("sqlite: %s has schema version %d but this phieu knows versions up to %d; it was written by a newer phieu, so use that version (refusing to touch it)", db.DSN, newest, known)
	}
	for _, m := range ms {
		if err := db.applyMigration(ctx, m); err != nil {
			if isBusy(err) {
				return fmt.Errorf("sqlite: migration %s: %w (%s)", m.name, err, lockedHint)
			}
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// lockedHint says what "database is locked" means and what to do.
const lockedHint = "another process holds the database's write lock past the busy timeout, such as a long phieu command or a tool with the file open; nothing was changed: try again when it has finished"

// isBusy reports whether err is SQLite's "database is locked" (or busy):
// another connection holds the lock past the busy timeout.
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

func (db *DB) applyMigration(ctx context.Context, m migration) error {
	tx, err := db.BeginTx(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, formatTime(tx.now)); err != nil {
		return err
	}
	return tx.Commit()
}

// Stored forms

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// formatDue stores a moment something becomes due at the transaction
// clock's precision, so that a time computed from an untruncated reading
// ("retry in an hour") is due when a later transaction's clock reaches it.
func formatDue(t time.Time) string { return formatTime(t.Truncate(nowPrecision)) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// nullDate stores a zero date as NULL.
func nullDate(d store.Date) any {
	if d.IsZero() {
		return nil
	}
	return d.ISO()
}

func parseDate(s sql.NullString) (store.Date, error) {
	if !s.Valid || s.String == "" {
		return store.Date{}, nil
	}
	d, err := store.ParseDate(s.String)
	if err != nil {
		return store.Date{}, fmt.Errorf("stored date: %w", err)
	}
	return d, nil
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// vnLocation is where "yesterday" is reckoned. Without the zone database
// (a bare container) it falls back to UTC+7, which Vietnam has kept since 1975.
func vnLocation() *time.Location {
	if loc, err := time.LoadLocation(store.DefaultLocation); err == nil {
		return loc
	}
	return time.FixedZone("ICT", 7*3600)
}

// placeholders returns "?, ?, ?" for n arguments.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// anys converts strings to query arguments.
func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Backup writes a consistent copy of the database to path while the daemon
// keeps working: VACUUM INTO reads one snapshot (a WAL read transaction,
// which never blocks the writer) into a compact new file, and the copy is
// then opened and checked. path must not exist: a backup never overwrites.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.read == nil {
		return errors.New("sqlite: backup: database not open")
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("sqlite: backup: %s exists; give a new file name", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("sqlite: backup: %w", err)
		}
	}
	// Its own connection: the readers' query_only refuses VACUUM INTO,
	// though it writes only the new file.
	src, err := sql.Open("sqlite3", dsn(db.DSN, url.Values{"_busy_timeout": {"5000"}}))
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer src.Close()
	src.SetMaxOpenConns(1)
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	copyDB, err := sql.Open("sqlite3", dsn(path, url.Values{"_query_only": {"on"}}))
	if err != nil {
		return fmt.Errorf("sqlite: backup check: %w", err)
	}
	defer copyDB.Close()
	var result string
	if err := copyDB.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil || result != "ok" {
		return fmt.Errorf("sqlite: backup %s failed its integrity check: %q %v", path, result, err)
	}
	return nil
}
