package storage

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// checkpointEvery is how often, at most, the WAL is copied into the
// database file while commits come in. A checkpoint costs two fsyncs, so it
// is paced by time, not by commits.
const checkpointEvery = 250 * time.Millisecond

// checkpointer runs PASSIVE checkpoints from its own connection: they never
// block the writer or the readers, and no commit that someone waits for
// pays for one (the writer has wal_autocheckpoint off).
type checkpointer struct {
	db    *DB
	conn  *sql.DB
	wrote chan struct{} // poked after each commit
	quit  chan struct{}
	done  chan struct{}
}

func startCheckpointer(db *DB, dsn string) (*checkpointer, error) {
	conn, err := sql.Open(readerDriver, dsn)
	if err != nil {
		return nil, classify(err)
	}
	conn.SetMaxOpenConns(1)
	c := &checkpointer{db: db, conn: conn, wrote: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *checkpointer) poke() {
	select {
	case c.wrote <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			return
		case <-c.wrote:
		}
		c.checkpoint()
		if more, err := c.db.shrink(context.Background()); err != nil {
			c.db.log.Warn("giving free pages back to the disk failed", "err", err)
		} else if more {
			c.poke() // the next step after the pause
		}
		select {
		case <-c.quit:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// walLimit is the WAL size, in frames (pages), at which the checkpointer
// stops waiting for a quiet moment: under a steady stream of commits a
// PASSIVE checkpoint never catches up with the last frame, the WAL never
// restarts, and it grows without bound. A TRUNCATE checkpoint holds new
// batches back until it has copied everything (64 MiB takes well under a
// second) and gives the space back to the disk.
const walLimit = 16384

func (c *checkpointer) checkpoint() {
	if !c.hasRoom() {
		return
	}
	c.db.ckptMu.Lock()
	defer c.db.ckptMu.Unlock()
	var busy, frames, copied int
	err := c.conn.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	// With a WAL owner, a TRUNCATE would wait on its read transaction with
	// the writers held back; the owner restarts the WAL itself. On a disk
	// short of space the WAL's space goes back to it at once.
	if err == nil && (frames >= walLimit || c.db.short.Load()) && c.db.walOwner.Load() == nil {
		err = c.conn.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied)
	}
	if err != nil {
		c.db.log.Warn("checkpoint failed", "err", err)
	}
	c.db.keepBallast()
}

// hasRoom says whether the disk can take what a checkpoint adds to the
// database file. One that cannot fails halfway, having taken the disk's last
// bytes (a released reserve file's among them) that deletions need for
// their WAL frames; it runs again after the next commit.
func (c *checkpointer) hasRoom() bool {
	var pageSize, pages int64
	if c.conn.QueryRow(`SELECT page_size, page_count FROM pragma_page_size, pragma_page_count`).Scan(&pageSize, &pages) != nil {
		return true
	}
	fi, err := os.Stat(c.db.path)
	var st syscall.Statfs_t
	if err != nil || syscall.Statfs(filepath.Dir(c.db.path), &st) != nil {
		return true
	}
	return pages*pageSize-fi.Size() < int64(st.Bavail)*st.Bsize-floor/2
}

func (c *checkpointer) stop() {
	close(c.quit)
	<-c.done
	c.conn.Close()
}

// WALOwner is another process that reads the WAL and must see every frame
// before the WAL restarts (the Litestream child). It holds a read
// transaction, so only it can restart the WAL.
type WALOwner interface {
	// Checkpoint copies the WAL into the database file and truncates it,
	// after taking what it needs from it.
	Checkpoint(ctx context.Context) error
}

type walOwnerBox struct{ WALOwner }

// SetWALOwner hands full checkpoints to o (nil: back to the kernel's own).
func (db *DB) SetWALOwner(o WALOwner) {
	if o == nil {
		db.walOwner.Store(nil)
		return
	}
	db.walOwner.Store(&walOwnerBox{o})
}
