package storage

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/fazt-sh/fazt/kernel"
)

// Replicated pages. A follower's database is a copy of the primary's kept
// current page by page: each transaction the primary committed arrives as
// the images of the pages it changed (Litestream's LTX files), and
// ApplyPages writes them in one write transaction through SQLite's
// sqlite_dbpage table. The pages go through the pager and the WAL like any
// change, so readers see each transaction whole or not at all, a reader's
// snapshot holds while it reads, and every other connection's data_version
// moves. Litestream's own follow mode writes the pages into the file from
// outside SQLite instead: measured here, a connection held open in WAL mode
// never saw them (the WAL index does not change), and readers in rollback
// mode would race the writes or, holding their locks, starve them.
//
// sqlite_dbpage is compiled in by SQLITE_ENABLE_DBPAGE_VTAB, which the
// Makefile sets for every build (mattn/go-sqlite3 leaves it out).

// Page is the image of one database page.
type Page struct {
	No   uint32
	Data []byte
}

// ApplyPages replaces the pages next yields (until it says false) and
// truncates the database to size pages, in one transaction, committed
// durably: a crash leaves the database as it was before or after. The
// open batch, if any, is committed first. Page images must have the
// database's page size.
func (db *DB) ApplyPages(ctx context.Context, size uint32, next func() (Page, bool, error)) error {
	ctx = context.WithoutCancel(ctx) // a transaction is never abandoned halfway
	return db.exclusive(ctx, func() (err error) {
		// A connection of its own, used for nothing else: the writer's
		// cached statements, run again after it wrote pages under
		// them, read the database as malformed (measured: the first
		// route listing after the first apply); every other
		// connection sees the new pages through the WAL index.
		w, err := sql.Open(writerDriver, db.dsn)
		if err != nil {
			return classify(err)
		}
		defer w.Close()
		conn, err := w.Conn(ctx)
		if err != nil {
			return classify(err)
		}
		defer conn.Close()
		// Durable by the commit itself: syncWAL would write a row, and
		// a follower's pages must be the primary's and nothing else.
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
			return classify(err)
		}
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return classify(err)
		}
		defer func() {
			if err != nil {
				conn.ExecContext(ctx, "ROLLBACK")
			}
		}()
		for {
			p, ok, err := next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if p.No == 0 || p.No > size {
				return kernel.E(kernel.Invalid, fmt.Sprintf("page %d of a database of %d pages", p.No, size))
			}
			if _, err := conn.ExecContext(ctx, `INSERT INTO sqlite_dbpage(pgno, data) VALUES (?, ?)`, p.No, p.Data); err != nil {
				return classify(err)
			}
		}
		var pages uint32
		if err := conn.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
			return classify(err)
		}
		if size < pages {
			// A NULL image truncates the database from that page on.
			if _, err := conn.ExecContext(ctx, `INSERT INTO sqlite_dbpage(pgno, data) VALUES (?, NULL)`, size+1); err != nil {
				return classify(err)
			}
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			return classify(err)
		}
		if db.ckpt != nil {
			db.ckpt.poke()
		}
		return nil
	})
}

// Follows is the replica a follower's database copies, "" on a primary.
func (db *DB) Follows() string {
	if p := db.follows.Load(); p != nil {
		return p.url
	}
	return ""
}

// refusal is why a database that is not the replica's writer refuses
// writes.
type refusal struct{ url, why string }

// Promote makes a follower's database a primary's: writes are taken from
// then on. (A standby that won the replica's lease.)
func (db *DB) Promote() { db.follows.Store(nil) }

// Depose makes a primary's database refuse writes as a follower's does,
// with why: another machine now writes to the replica at url (it took the
// replica's lease). Its pages stay as they are; Promote undoes it.
func (db *DB) Depose(url, why string) { db.follows.Store(&refusal{url: url, why: why}) }

// notPrimary refuses a write on a follower, naming where to write.
func (db *DB) notPrimary() error {
	if p := db.follows.Load(); p != nil {
		return kernel.E(kernel.NotPrimary, p.why)
	}
	return nil
}

// HasPageWrites reports whether this binary's SQLite can apply replicated
// pages (sqlite_dbpage compiled in); the error says how to build one that
// can.
func (db *DB) HasPageWrites(ctx context.Context) error {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM sqlite_dbpage WHERE pgno = 1`).Scan(&n)
	if err != nil {
		return kernel.E(kernel.NotSupported, "this binary's SQLite has no sqlite_dbpage table (build fazt with make, which sets SQLITE_ENABLE_DBPAGE_VTAB)")
	}
	return nil
}
