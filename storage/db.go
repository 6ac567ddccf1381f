package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// ApplicationID marks a SQLite file as a fazt database ("fazt" in ASCII).
const ApplicationID = 0x66617a74

// Options tune Open. The zero value is what the kernel uses.
type Options struct {
	// Readers is the size of the reader pool; 0 means 4.
	Readers int
	// CommitDelay is how long a batch of writes collects before it is
	// committed; 0 means DefaultCommitDelay.
	CommitDelay time.Duration
	// Log receives notices (applied migrations, compatibility mode).
	Log *slog.Logger
	// Migrations replaces the embedded migrations; for tests of the
	// migration rules.
	Migrations fs.FS
	// NoMigrate opens without applying pending migrations.
	NoMigrate bool
	// Follows, when set, opens a follower's database: a copy of the
	// primary's kept current by ApplyPages, for the replica named here.
	// Every other write is refused (NotPrimary) until Promote; nothing
	// is migrated, and a database that lacks a migration this binary
	// needs is refused (the primary upgrades first).
	Follows string
}

// DefaultCommitDelay bounds how long a change waits to be committed.
const DefaultCommitDelay = 10 * time.Millisecond

// maxBatch bounds the operations in one batch.
const maxBatch = 5000

// DB is an open fazt database.
type DB struct {
	path  string
	log   *slog.Logger
	delay time.Duration

	w   *sql.DB   // one connection, held by wc: the write path
	wc  *sql.Conn // the writer connection
	dsn string    // how connections open the file (ApplyPages opens its own)
	r   *sql.DB   // the reader pool

	// wmu serializes everything on wc and guards the batch state.
	wmu     sync.Mutex
	inBatch bool        // a BEGIN IMMEDIATE is open on wc
	ops     int         // operations in the open batch
	timer   *time.Timer // commits the open batch
	opened  time.Time   // when the open batch began
	lost    error       // why the last batch failed to commit, if it did
	hooks   []func()    // to run when the open batch commits
	// ample is until when (Unix ns) small changes need not measure the
	// disk; short says the last measure found less room than the reserve.
	ample atomic.Int64
	short atomic.Bool
	// refusals counts changes refused for want of space since the last
	// log line, written at refusedLogged (Unix ns).
	refusals      atomic.Int64
	refusedLogged atomic.Int64

	schema     Schema
	migrations fs.FS // Options.Migrations, for Migrate

	closeOnce sync.Once
	ckpt      *checkpointer
	// ckptMu serializes checkpoints: the checkpointer's and those of the
	// write path on a short disk (taken with wmu held, never the other
	// way round).
	ckptMu sync.Mutex

	// walOwner, when set, is another process that reads the WAL (the
	// Litestream child): the kernel's checkpoints stay PASSIVE and a full
	// checkpoint is asked of it.
	walOwner atomic.Pointer[walOwnerBox]

	// follows is the replica a follower's database copies, or nil: its
	// pages come only from ApplyPages. A deposed primary's names the
	// replica it lost, and why.
	follows atomic.Pointer[refusal]
}

// Open opens (creating if needed) the database at path, checks that it is a
// fazt database this binary can run on, and applies pending migrations.
func Open(ctx context.Context, path string, opt Options) (_ *DB, err error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Readers <= 0 {
		opt.Readers = 4
	}
	if opt.CommitDelay <= 0 {
		opt.CommitDelay = DefaultCommitDelay
	}
	if opt.Migrations == nil {
		opt.Migrations = embedded
	}
	db := &DB{path: path, log: opt.Log, delay: opt.CommitDelay, migrations: opt.Migrations}
	if opt.Follows != "" {
		db.follows.Store(&refusal{url: opt.Follows, why: "this fazt is a follower of " + opt.Follows + ": write on the primary"})
		opt.NoMigrate = true
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	// The path goes into a URI; escape it so '?' or '#' in a directory
	// name cannot inject options. mattn's per-connection statement cache
	// makes repeated queries skip the SQL compiler.
	db.releaseBallastIfFull()
	u := url.URL{Scheme: "file", Path: path}
	dsn := u.String() + "?_stmt_cache_size=64"
	db.dsn = dsn
	if db.w, err = sql.Open(writerDriver, dsn); err != nil {
		return nil, classify(err)
	}
	db.w.SetMaxOpenConns(1)
	if db.wc, err = db.w.Conn(ctx); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, classify(err))
	}
	if err := db.init(ctx); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if db.r, err = sql.Open(readerDriver, dsn); err != nil {
		return nil, classify(err)
	}
	db.r.SetMaxOpenConns(opt.Readers)
	db.r.SetMaxIdleConns(opt.Readers)
	db.r.SetConnMaxIdleTime(0)
	if db.ckpt, err = startCheckpointer(db, dsn); err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, opt); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if pending := db.schema.Pending; opt.Follows != "" && len(pending) > 0 {
		return nil, kernel.E(kernel.NotSupported, fmt.Sprintf(
			"open database %s: the primary's database lacks %d migration(s) this fazt needs (the first: %s); upgrade the primary first",
			path, len(pending), pending[0].Name))
	}
	db.keepBallast()
	return db, nil
}

// init marks a new file as a fazt database, refuses anything else, and puts
// the file in WAL mode.
func (db *DB) init(ctx context.Context) error {
	var appID int64
	if err := db.wc.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return classify(err)
	}
	var tables int
	if err := db.wc.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return classify(err)
	}
	switch {
	case appID == 0 && tables == 0:
		// auto_vacuum is chosen before the first table (see shrink.go).
		if _, err := db.wc.ExecContext(ctx, fmt.Sprintf("PRAGMA auto_vacuum = %d", autoVacuumIncremental)); err != nil {
			return classify(err)
		}
		if _, err := db.wc.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
			return classify(err)
		}
	case appID != ApplicationID:
		return kernel.E(kernel.Invalid, "not a fazt database (application_id is not 'fazt')")
	}
	var mode string
	if err := db.wc.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return classify(err)
	}
	if mode != "wal" {
		return kernel.E(kernel.Internal, "cannot switch the database to WAL mode (journal_mode is "+mode+")")
	}
	return nil
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close commits what is pending, checkpoints the WAL into the database file
// and closes everything.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		var errs []error
		if db.ckpt != nil {
			db.ckpt.stop()
		}
		if db.wc != nil {
			db.wmu.Lock()
			errs = append(errs, db.commitLocked(false))
			if _, cerr := db.wc.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)"); cerr != nil {
				db.log.Warn("checkpoint at close failed", "err", cerr)
			}
			errs = append(errs, db.wc.Close())
			db.wc = nil
			db.wmu.Unlock()
		}
		if db.r != nil {
			errs = append(errs, db.r.Close())
		}
		if db.w != nil {
			errs = append(errs, db.w.Close())
		}
		err = classify(errors.Join(errs...))
	})
	return err
}

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
