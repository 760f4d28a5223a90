// Package store keeps everything hostelhub remembers: hostels, users, issues
// with their history, announcements, sessions, and the event log that every
// change appends to in the same transaction.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"
	"golang.org/x/crypto/bcrypt"
)

//go:embed migrations
var migrations embed.FS

// Errors callers branch on with errors.Is.
var (
	ErrNotFound   = errors.New("store: not found")
	ErrDuplicate  = errors.New("store: already exists")
	ErrTransition = errors.New("store: status change not allowed")
)

// Dialect names the database behind a Store.
type Dialect string

// The dialects a Store runs on.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the database. Reads go to a pool; writes go through write, which
// appends events in the same transaction and announces them after commit.
type Store struct {
	db      *sqlx.DB // reads
	wdb     *sqlx.DB // writes: one connection on SQLite, the same pool on PostgreSQL
	dialect Dialect
	now     func() time.Time

	passwordCost int

	onCommit func([]Event)
	memory   *memory // sessions and accounts, kept until an event changes them

	afterSessionRead func() // tests: runs between a session's read and its fill
}

// Options configure Open.
type Options struct {
	// OnCommit is called after every committed change with the events it
	// appended, in id order. It must not block.
	OnCommit func([]Event)
	Logger   *slog.Logger
	// PasswordCost is the bcrypt cost of new password hashes (default
	// bcrypt.DefaultCost); tests lower it.
	PasswordCost int
}

// Open connects to url (a SQLite file path or a postgres:// URL) and applies
// every pending migration.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	s := &Store{now: time.Now, onCommit: opts.OnCommit, passwordCost: opts.PasswordCost, memory: newMemory()}
	if s.passwordCost == 0 {
		s.passwordCost = bcrypt.DefaultCost
	}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.dialect = Postgres
		s.db, err = sqlx.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: open: %w", err)
		}
		s.db.SetMaxOpenConns(20)
		s.wdb = s.db
	} else {
		s.dialect = SQLite
		s.db = sqlx.NewDb(sql.OpenDB(sqliteConnector{dsn: sqliteDSN(dsn, false)}), "sqlite3")
		s.db.SetMaxOpenConns(8)
		s.db.SetMaxIdleConns(8)
		// One writer connection: writers queue in the pool instead of
		// fighting over SQLite's lock; busy_timeout covers other processes.
		s.wdb = sqlx.NewDb(sql.OpenDB(sqliteConnector{dsn: sqliteDSN(dsn, true)}), "sqlite3")
		s.wdb.SetMaxOpenConns(1)
		s.wdb.SetMaxIdleConns(1)
		s.wdb.SetConnMaxIdleTime(0)
	}
	if err := s.migrate(ctx, opts.Logger); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func sqliteDSN(path string, write bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_synchronous", "NORMAL")
	q.Set("_stmt_cache_size", "64")
	if write {
		// BEGIN IMMEDIATE: take the write lock up front so a transaction
		// never fails half-way on an upgrade from reader to writer.
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// sqliteConnector opens SQLite connections that read the file through
// memory mapping: a list that walks one hostel's rows, spread across the
// table, then costs page-cache reads rather than a system call per page.
type sqliteConnector struct{ dsn string }

var sqliteDriver = &sqlite3.SQLiteDriver{
	ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA mmap_size = 268435456", nil)
		return err
	},
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	return sqliteDriver.Open(c.dsn)
}
func (c sqliteConnector) Driver() driver.Driver { return sqliteDriver }

func (s *Store) migrate(ctx context.Context, logger *slog.Logger) error {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	if s.dialect == Postgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, s.wdb.DB, fsys)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range results {
		if logger != nil {
			logger.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
		}
	}
	return nil
}

// Dialect reports which database the store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.wdb != s.db {
		err = errors.Join(err, s.wdb.Close())
	}
	return err
}

// tx is a write transaction that collects the events it appends.
type tx struct {
	*sqlx.Tx
	s      *Store
	now    int64
	events []Event
}

// write runs fn in a transaction; after commit, the events it appended are
// handed to OnCommit. This is the one path every change takes.
func (s *Store) write(ctx context.Context, fn func(*tx) error) error {
	sqltx, err := s.wdb.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	t := &tx{Tx: sqltx, s: s, now: s.now().UTC().Unix()}
	if err := fn(t); err != nil {
		sqltx.Rollback()
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return err
	}
	for _, e := range t.events {
		s.memory.forget(e)
	}
	if len(t.events) > 0 && s.onCommit != nil {
		s.onCommit(t.events)
	}
	return nil
}

// exec runs a statement written with ? placeholders.
func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	return t.Exec(t.Rebind(query), args...)
}

// insert runs an INSERT written with ? placeholders and returns the new id.
func (t *tx) insert(query string, args ...any) (int64, error) {
	var id int64
	err := t.QueryRowx(t.Rebind(query+" RETURNING id"), args...).Scan(&id)
	return id, err
}

// event appends an event row; OnCommit receives it after the commit.
// hostelID 0 is an event of no hostel, which no stream shows.
func (t *tx) event(hostelID int64, kind EventKind, refID int64) error {
	if t.s.dialect == Postgres && len(t.events) == 0 {
		// PostgreSQL hands out ids at insert, not at commit: without this,
		// event 8 could commit after a reader has moved past 9. Holding one
		// lock from the first event to the commit makes id order commit order.
		if _, err := t.Exec(`SELECT pg_advisory_xact_lock(7411)`); err != nil {
			return fmt.Errorf("append event: lock: %w", err)
		}
	}
	id, err := t.insert(`INSERT INTO events (hostel_id, kind, ref_id, created_at) VALUES (?, ?, ?, ?)`,
		sql.NullInt64{Int64: hostelID, Valid: hostelID != 0}, kind, refID, t.now)
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	t.events = append(t.events, Event{ID: id, HostelID: hostelID, Kind: kind, RefID: refID, CreatedAt: t.now})
	return nil
}

func (s *Store) get(ctx context.Context, dest any, query string, args ...any) error {
	err := s.db.GetContext(ctx, dest, s.db.Rebind(query), args...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func (s *Store) selectAll(ctx context.Context, dest any, query string, args ...any) error {
	return s.db.SelectContext(ctx, dest, s.db.Rebind(query), args...)
}

// in expands a query's IN (?) for a slice of args with sqlx.In.
func (s *Store) in(query string, args ...any) (string, []any, error) {
	q, a, err := sqlx.In(query, args...)
	if err != nil {
		return "", nil, err
	}
	return s.db.Rebind(q), a, nil
}

var errNoRows = sql.ErrNoRows

// isUnique reports whether err is a unique-constraint violation, on either dialect.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// DB is the read pool, for tests and tools that check rows directly.
func (s *Store) DB() *sqlx.DB { return s.db }
