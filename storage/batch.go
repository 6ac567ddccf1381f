package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// The write path. Every change runs on the one writer connection, inside a
// batch: a transaction that collects the changes of up to CommitDelay (or
// maxBatch operations) and then commits them together. Each change is a
// savepoint in the batch, so a failing change rolls back alone, and a commit
// never holds half of one. A small change costs a few statements instead of
// a commit of its own: on this kind of machine a commit (WAL frames for
// every page it touched) costs more than the statements.
//
// Changes are visible at once to everything that reads through View (the
// same connection), and to the reader pool when their batch commits. A crash
// loses at most the last batch, whole; WriteSync and Sync commit at once and
// make it durable.

// Write runs fn as one change in the current batch. If fn returns an error,
// its changes are undone and the error returned. The change is held to the
// disk's reserve (see Space): on a nearly full disk it is refused with
// NoSpace before it runs.
func (db *DB) Write(ctx context.Context, fn func(*Tx) error) error {
	return db.write(ctx, modeBatched, fn)
}

// WriteCommitted is Write, then commits the batch (without an fsync): the
// change survives the process being killed when it returns. For changes
// that are rare and must hold once acknowledged (a route, a setting).
func (db *DB) WriteCommitted(ctx context.Context, fn func(*Tx) error) error {
	return db.write(ctx, modeCommitted, fn)
}

// WriteSync is Write, then commits the batch durably (synchronous=FULL): the
// change is on disk when it returns.
func (db *DB) WriteSync(ctx context.Context, fn func(*Tx) error) error {
	return db.write(ctx, modeDurable, fn)
}

// WriteFreeing is Write for a change that frees space (a deletion, a
// truncation): it is not held to the reserve, which is kept for exactly
// these. On a nearly full disk it is committed before it returns, so that a
// commit that fails for want of space fails this change, not acknowledged
// ones.
func (db *DB) WriteFreeing(ctx context.Context, fn func(*Tx) error) error {
	return db.write(ctx, modeFreeing, fn)
}

// How far write goes before it returns.
type writeMode int

const (
	modeBatched   writeMode = iota // into the open batch
	modeCommitted                  // and the batch committed
	modeDurable                    // and the WAL fsynced
	modeFreeing                    // into the open batch, not held to the reserve
)

// Sync commits the current batch durably.
func (db *DB) Sync(ctx context.Context) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wc == nil {
		return kernel.E(kernel.Unavailable, "database closed")
	}
	return db.commitLocked(true)
}

// Commit commits the current batch now, without waiting for CommitDelay.
func (db *DB) Commit(ctx context.Context) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wc == nil {
		return kernel.E(kernel.Unavailable, "database closed")
	}
	return db.commitLocked(false)
}

func (db *DB) write(ctx context.Context, mode writeMode, fn func(*Tx) error) (err error) {
	ctx = context.WithoutCancel(ctx) // a change is never abandoned halfway
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wc == nil {
		return kernel.E(kernel.Unavailable, "database closed")
	}
	if err := db.notPrimary(); err != nil {
		return err
	}
	if mode == modeFreeing {
		if db.freeing() {
			mode = modeCommitted
		} else {
			mode = modeBatched
		}
	} else if err := db.roomLocked(smallChange); err != nil {
		return err
	}
	if !db.inBatch {
		if _, err := db.wc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return classify(err)
		}
		db.inBatch = true
		db.opened = time.Now()
		db.timer = time.AfterFunc(db.delay/5, db.commitTimer)
	}
	if _, err := db.wc.ExecContext(ctx, "SAVEPOINT change"); err != nil {
		return classify(err)
	}
	undo := func() {
		if _, err := db.wc.ExecContext(ctx, "ROLLBACK TO change"); err != nil {
			db.log.Error("storage: cannot undo a failed change", "err", err)
		}
		db.wc.ExecContext(ctx, "RELEASE change")
	}
	defer func() {
		if p := recover(); p != nil {
			undo()
			panic(p)
		}
	}()
	if err := fn(&Tx{ctx: ctx, q: db.wc}); err != nil {
		undo()
		return classify(err)
	}
	if _, err := db.wc.ExecContext(ctx, "RELEASE change"); err != nil {
		undo()
		return classify(err)
	}
	db.ops++
	if mode != modeBatched || db.ops >= maxBatch {
		// A batch of this change alone that fails to commit fails the
		// change; nothing acknowledged is lost.
		alone := mode != modeBatched && db.ops == 1
		return db.commit(mode == modeDurable, alone)
	}
	// Commit once the writers pause for a fifth of the delay, and at the
	// latest after the delay: a lone change is visible to readers of
	// committed state (the HTTP server) within about 2 ms, a stream of
	// them is committed every 10 ms.
	db.timer.Reset(min(db.delay/5, db.delay-time.Since(db.opened)))
	return nil
}

// AfterCommit runs fn once every change made so far is committed: at once
// if no batch is open, else when the open batch commits (and never if it is
// lost). fn runs with the write path held and must not use the database.
func (db *DB) AfterCommit(fn func()) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if !db.inBatch {
		fn()
		return
	}
	db.hooks = append(db.hooks, fn)
}

// Lost is why the last batch failed to commit, or nil: changes that were
// acknowledged and never reached the disk.
func (db *DB) Lost() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	return db.lost
}

func (db *DB) commitTimer() {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wc != nil {
		if err := db.commitLocked(false); err != nil {
			db.log.Error("storage: commit failed", "err", err)
		}
	}
}

// commitLocked commits the open batch, if any; durable also fsyncs the WAL.
// wmu must be held.
func (db *DB) commitLocked(durable bool) error { return db.commit(durable, false) }

// commit is commitLocked; alone says the batch holds one change whose
// caller waits for this commit, so a failure is not a loss.
func (db *DB) commit(durable, alone bool) error {
	ctx := context.Background()
	if db.inBatch {
		if db.timer != nil {
			db.timer.Stop()
			db.timer = nil
		}
		n := db.ops
		_, err := db.wc.ExecContext(ctx, "COMMIT")
		hooks := db.hooks
		db.inBatch, db.ops, db.hooks = false, 0, nil
		if err != nil {
			// The batch is lost: its changes were acknowledged but will
			// never be on disk. That takes a full or failing disk, which
			// the file system's reserve of free space keeps away; say it
			// loudly.
			db.wc.ExecContext(ctx, "ROLLBACK")
			if alone {
				return classify(err)
			}
			db.lost = fmt.Errorf("a batch of %d changes failed to commit: %w", n, classify(err))
			db.log.Error("storage: changes lost", "changes", n, "err", err)
			return classify(err)
		}
		if db.ckpt != nil {
			db.ckpt.poke()
		}
		for _, fn := range hooks {
			fn()
		}
	}
	if durable {
		return db.syncWAL()
	}
	return nil
}

// syncWAL makes every commit so far durable. Commits run with
// synchronous=NORMAL, which fsyncs the WAL only at checkpoints; a tiny
// commit with synchronous=FULL fsyncs the WAL, and with it all the frames
// before it, without copying them into the database file. wmu must be held
// and no batch open.
func (db *DB) syncWAL() error {
	ctx := context.Background()
	if _, err := db.wc.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
		return classify(err)
	}
	defer db.wc.ExecContext(ctx, "PRAGMA synchronous = NORMAL")
	_, err := db.wc.ExecContext(ctx, `INSERT INTO fazt_meta(key, value) VALUES ('storage.syncs', '1')
		ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1`)
	return classify(err)
}

// View runs fn on the writer connection: it sees every change made so far,
// committed or still in the open batch. Use it where a read must see the
// writes before it (the file system's own reads).
func (db *DB) View(ctx context.Context, fn func(*Tx) error) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wc == nil {
		return kernel.E(kernel.Unavailable, "database closed")
	}
	return classify(fn(&Tx{ctx: ctx, q: db.wc}))
}

// Read runs fn in a read transaction on the reader pool: every query in fn
// sees the same committed state, without waiting for the writer.
func (db *DB) Read(ctx context.Context, fn func(*Tx) error) error {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback()
	return classify(fn(&Tx{ctx: ctx, q: tx}))
}

// QueryRow runs a single-row query on the reader pool (committed state).
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *Row {
	return &Row{row: db.r.QueryRowContext(ctx, q, args...)}
}

// Query runs a query on the reader pool (committed state).
func (db *DB) Query(ctx context.Context, q string, args ...any) (*Rows, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, classify(err)
	}
	return &Rows{rows: rows}, nil
}

// querier is what a Tx runs on: a transaction of the reader pool or the
// writer connection.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// Tx is where a Write, View or Read runs. Its methods return classified
// errors.
type Tx struct {
	ctx context.Context
	q   querier
}

// Exec runs a statement.
func (t *Tx) Exec(q string, args ...any) (sql.Result, error) {
	res, err := t.q.ExecContext(t.ctx, q, args...)
	return res, classify(err)
}

// ExecScript runs several statements separated by semicolons.
func (t *Tx) ExecScript(script string) error {
	_, err := t.q.ExecContext(t.ctx, script)
	return classify(err)
}

// QueryRow runs a single-row query.
func (t *Tx) QueryRow(q string, args ...any) *Row {
	return &Row{row: t.q.QueryRowContext(t.ctx, q, args...)}
}

// Query runs a query.
func (t *Tx) Query(q string, args ...any) (*Rows, error) {
	rows, err := t.q.QueryContext(t.ctx, q, args...)
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
