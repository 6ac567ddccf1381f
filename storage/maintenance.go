package storage

import (
	"context"
	"fmt"
	"os"

	"github.com/fazt-sh/fazt/kernel"
)

// Stats describes the database file.
type Stats struct {
	PageSize      int64
	PageCount     int64
	FreelistCount int64
	AutoVacuum    int64 // 2: the file gives free pages back by itself (shrink.go)
	DBBytes       int64
	WALBytes      int64
}

// Stats reads the database's page counts and file sizes.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := db.View(ctx, func(tx *Tx) error {
		for _, p := range []struct {
			q string
			v *int64
		}{
			{"PRAGMA page_size", &s.PageSize},
			{"PRAGMA page_count", &s.PageCount},
			{"PRAGMA freelist_count", &s.FreelistCount},
			{"PRAGMA auto_vacuum", &s.AutoVacuum},
		} {
			if err := tx.QueryRow(p.q).Scan(p.v); err != nil {
				return err
			}
		}
		return nil
	})
	if fi, err := os.Stat(db.path); err == nil {
		s.DBBytes = fi.Size()
	}
	if fi, err := os.Stat(db.path + "-wal"); err == nil {
		s.WALBytes = fi.Size()
	}
	return s, err
}

// Checkpoint commits what is pending and copies the whole WAL into the
// database file, then truncates the WAL.
func (db *DB) Checkpoint(ctx context.Context) error {
	if o := db.walOwner.Load(); o != nil {
		if err := db.Commit(ctx); err != nil {
			return err
		}
		return o.Checkpoint(ctx)
	}
	return db.exclusive(ctx, func() error {
		// Not beside the checkpointer's: a second checkpoint fails at once.
		db.ckptMu.Lock()
		defer db.ckptMu.Unlock()
		_, err := db.wc.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		return classify(err)
	})
}

// Vacuum rewrites the database file without its free pages, giving their
// space back to the disk. It holds the write path for as long as that takes.
// Free pages are reused by new writes anyway: a vacuum is only for giving
// space back to other programs. It writes the whole database to the WAL, so
// it is refused unless the disk has that much room beyond what a checkpoint
// and deletions need; if it fails all the same, the WAL it grew is
// truncated again.
func (db *DB) Vacuum(ctx context.Context) error {
	if err := db.notPrimary(); err != nil {
		return err
	}
	if err := db.vacuum(ctx); err != nil {
		return err
	}
	return db.Checkpoint(ctx)
}

func (db *DB) vacuum(ctx context.Context) error {
	return db.exclusive(ctx, func() error {
		s, err := db.space()
		if err != nil {
			return err
		}
		s = db.reclaimWAL(s) // what the WAL holds is room for the copy
		if live := s.Size - s.Reusable; s.Free-s.Pending-live < min(s.Reserve, floor) {
			return kernel.E(kernel.NoSpace, fmt.Sprintf(
				"vacuum needs room for a copy of the database (%d bytes) and fazt's reserve; the disk has %d bytes free (free pages are reused by new writes without a vacuum)",
				live, s.Free))
		}
		// A database made before fazt chose incremental auto-vacuum
		// switches now: only a VACUUM can change it.
		if _, err := db.wc.ExecContext(ctx, fmt.Sprintf("PRAGMA auto_vacuum = %d", autoVacuumIncremental)); err != nil {
			return classify(err)
		}
		if _, err := db.wc.ExecContext(ctx, "VACUUM"); err != nil {
			if s, serr := db.space(); serr == nil {
				db.reclaimWAL(s)
			}
			return classify(err)
		}
		return nil
	})
}

// exclusive commits the open batch and runs fn with the write path held,
// outside any transaction.
func (db *DB) exclusive(ctx context.Context, fn func() error) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wc == nil {
		return kernel.E(kernel.Unavailable, "database closed")
	}
	if err := db.commitLocked(false); err != nil {
		return err
	}
	return fn()
}
