package storage

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/fazt-sh/fazt/kernel"
)

// ApplicationID marks a SQLite file as a fazt database ("fazt" in ASCII).
const ApplicationID = 0x66617a74

// Options tune Open. The zero value is what the kernel uses.
type Options struct {
	// Readers is the size of the reader pool; 0 means 4.
	Readers int
	// Log receives notices (applied migrations, compatibility mode).
	Log *slog.Logger
	// Migrations replaces the embedded migrations; for tests of the
	// migration rules.
	Migrations fs.FS
	// NoMigrate opens without applying pending migrations.
	NoMigrate bool
}

// DB is an open fazt database.
type DB struct {
	path string
	log  *slog.Logger
	w    *sql.DB // exactly one connection: the write path
	r    *sql.DB // the reader pool

	schema Schema
	closed atomic.Bool
}

// Open opens (creating if needed) the database at path, checks that it is a
// fazt database this binary can run on, and applies pending migrations.
func Open(ctx context.Context, path string, opt Options) (*DB, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Readers <= 0 {
		opt.Readers = 4
	}
	if opt.Migrations == nil {
		opt.Migrations = embedded
	}
	// The path goes into a URI; escape it so '?' or '#' in a directory
	// name cannot inject options.
	u := url.URL{Scheme: "file", Path: path}
	// mattn's per-connection statement cache makes repeated queries skip
	// the SQL compiler.
	dsn := u.String() + "?_stmt_cache_size=64"
	w, err := sql.Open(writerDriver, dsn+"&_txlock=immediate")
	if err != nil {
		return nil, classify(err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	db := &DB{path: path, log: opt.Log, w: w}
	if err := db.init(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}

	r, err := sql.Open(readerDriver, dsn)
	if err != nil {
		w.Close()
		return nil, classify(err)
	}
	r.SetMaxOpenConns(opt.Readers)
	r.SetMaxIdleConns(opt.Readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	db.r = r

	if err := db.migrate(ctx, opt); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
}

// init marks a new file as a fazt database, refuses anything else, and puts
// the file in WAL mode.
func (db *DB) init(ctx context.Context) error {
	var appID int64
	if err := db.w.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return classify(err)
	}
	var tables int
	if err := db.w.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return classify(err)
	}
	switch {
	case appID == 0 && tables == 0:
		if _, err := db.w.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
			return classify(err)
		}
	case appID != ApplicationID:
		return kernel.E(kernel.Invalid, "not a fazt database (application_id is not 'fazt')")
	}
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return classify(err)
	}
	if mode != "wal" {
		return kernel.E(kernel.Internal, "cannot switch the database to WAL mode (journal_mode is "+mode+")")
	}
	return nil
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes both pools. A clean close checkpoints the WAL into the
// database file.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	var err error
	if db.r != nil {
		err = db.r.Close()
	}
	if db.w != nil {
		if _, cerr := db.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); cerr != nil {
			db.log.Warn("checkpoint at close failed", "err", cerr)
		}
		if werr := db.w.Close(); err == nil {
			err = werr
		}
	}
	return classify(err)
}

// Write runs fn in a write transaction and commits it if fn returns nil.
// Write transactions run one at a time.
func (db *DB) Write(ctx context.Context, fn func(*Tx) error) error {
	return db.write(ctx, false, fn)
}

// WriteSync is Write, and the commit is on disk when it returns
// (synchronous=FULL for this transaction).
func (db *DB) WriteSync(ctx context.Context, fn func(*Tx) error) error {
	return db.write(ctx, true, fn)
}

func (db *DB) write(ctx context.Context, durable bool, fn func(*Tx) error) (err error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Close()
	if durable {
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
			return classify(err)
		}
		defer func() {
			if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = NORMAL"); rerr != nil && err == nil {
				err = classify(rerr)
			}
		}()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	t := &Tx{ctx: ctx, tx: tx}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(t); err != nil {
		tx.Rollback()
		return classify(err)
	}
	return classify(tx.Commit())
}

// Read runs fn in a read transaction on the reader pool: every query in fn
// sees the same committed state.
func (db *DB) Read(ctx context.Context, fn func(*Tx) error) error {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback()
	return classify(fn(&Tx{ctx: ctx, tx: tx}))
}

// QueryRow runs a single-row query on the reader pool.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *Row {
	return &Row{row: db.r.QueryRowContext(ctx, q, args...)}
}

// Query runs a query on the reader pool.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*Rows, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, classify(err)
	}
	return &Rows{rows: rows}, nil
}

// Tx is a transaction. Its methods return classified errors.
type Tx struct {
	ctx context.Context
	tx  *sql.Tx
}

// Exec runs a statement.
func (t *Tx) Exec(q string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(t.ctx, q, args...)
	return res, classify(err)
}

// ExecScript runs several statements separated by semicolons.
func (t *Tx) ExecScript(script string) error {
	_, err := t.tx.ExecContext(t.ctx, script)
	return classify(err)
}

// QueryRow runs a single-row query.
func (t *Tx) QueryRow(q string, args ...any) *Row {
	return &Row{row: t.tx.QueryRowContext(t.ctx, q, args...)}
}

// Query runs a query.
func (t *Tx) Query(q string, args ...any) (*Rows, error) {
	rows, err := t.tx.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, classify(err)
	}
	return &Rows{rows: rows}, nil
}

// Row is the result of QueryRow; Scan reports NotExist when there is no row.
type Row struct {
	row *sql.Row
}

// Scan copies the row's columns into dest.
func (r *Row) Scan(dest ...any) error {
	return classify(r.row.Scan(dest...))
}

// Rows is the result of Query.
type Rows struct {
	rows *sql.Rows
}

// Next prepares the next row for Scan.
func (r *Rows) Next() bool { return r.rows.Next() }

// Scan copies the current row's columns into dest.
func (r *Rows) Scan(dest ...any) error { return classify(r.rows.Scan(dest...)) }

// Err is the error, if any, that ended the iteration.
func (r *Rows) Err() error { return classify(r.rows.Err()) }

// Close ends the iteration.
func (r *Rows) Close() error { return classify(r.rows.Close()) }

// IntegrityCheck runs PRAGMA integrity_check and fails with what it found
// unless the database is intact.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := db.Query(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return kernel.E(kernel.Internal, "integrity check failed: "+strings.Join(problems, "; "))
	}
	return nil
}
