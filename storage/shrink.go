package storage

import (
	"context"
	"errors"
	"fmt"
)

// The database file gives space back by itself. Pages freed by deletions
// are reused by later writes, so most free pages are best kept; but after
// a large deletion a file that stays at its high-water mark holds disk
// space nothing else can use. A database in incremental auto-vacuum mode
// (every database fazt creates; older ones switch at their next `fazt
// storage vacuum`) moves pages from its end into free slots and truncates
// the file, shrinkStep pages at a time, from the checkpointer's goroutine,
// while more than a quarter of its pages (and more than shrinkSlack bytes)
// are free: what is left free stays for reuse.
const (
	shrinkStep  = 2048     // pages moved per step (8 MiB of 4 KiB pages): each step holds the write path
	shrinkSlack = 16 << 20 // free bytes below which the file is left as it is
)

// autoVacuumIncremental is PRAGMA auto_vacuum's value for incremental mode.
const autoVacuumIncremental = 2

// shrink runs one step of giving free pages back to the disk, if enough
// are free. It reports whether more steps are due.
func (db *DB) shrink(ctx context.Context) (more bool, err error) {
	// Most rounds find nothing due: they read the counts from the writer
	// (the open batch's changes included) without committing its batch.
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wc == nil || db.Follows() != "" {
		return false, nil // a follower's pages are the primary's
	}
	err = func() error {
		var mode, pageSize, pages, free int64
		if err := db.wc.QueryRowContext(ctx, `SELECT auto_vacuum, page_size, page_count, freelist_count
			FROM pragma_auto_vacuum, pragma_page_size, pragma_page_count, pragma_freelist_count`).
			Scan(&mode, &pageSize, &pages, &free); err != nil {
			return classify(err)
		}
		if mode != autoVacuumIncremental || free*4 <= pages || free*pageSize <= shrinkSlack {
			return nil
		}
		// A step writes up to shrinkStep pages to the WAL: only with room
		// for them beyond the reserve (on a short disk deletions come first).
		s, err := db.space()
		if err != nil {
			return err
		}
		step := min(shrinkStep, free-pages/4)
		if s.Room < step*pageSize {
			return nil
		}
		if err := db.commitLocked(false); err != nil {
			return err
		}
		// Each step of the statement frees one page: read it to the end.
		rows, err := db.wc.QueryContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", step))
		if err != nil {
			return classify(err)
		}
		for rows.Next() {
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return classify(err)
		}
		more = true
		return nil
	}()
	return more, err
}
