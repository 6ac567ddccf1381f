package storage

import (
	"database/sql"
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
		if _, err := c.conn.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			c.db.log.Warn("checkpoint failed", "err", err)
		}
		select {
		case <-c.quit:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

func (c *checkpointer) stop() {
	close(c.quit)
	<-c.done
	c.conn.Close()
}
