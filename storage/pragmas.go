package storage

import (
	"database/sql"

	"github.com/mattn/go-sqlite3"
)

// The pragmas every connection gets, in order. journal_mode is not here: it
// is a property of the file, set once by Open and checked there.
var connPragmas = []string{
	"PRAGMA busy_timeout = 5000",
	"PRAGMA synchronous = NORMAL",
	"PRAGMA foreign_keys = OFF",
	"PRAGMA temp_store = MEMORY",
	"PRAGMA cache_size = -16384", // KiB: 16 MiB per connection
	// After a burst of writes, give the WAL's space back to the disk when
	// it restarts instead of keeping its high-water mark.
	"PRAGMA journal_size_limit = 16777216",
}

// readerPragmas are added on the reader pool's connections, so a bug can
// never write through a reader.
var readerPragmas = []string{
	"PRAGMA query_only = 1",
	// Readers serve file content: through a memory map, a 256 KiB chunk is
	// read without a system call per 4 KiB page.
	"PRAGMA mmap_size = 1073741824",
}

const (
	writerDriver = "fazt-sqlite3-writer"
	readerDriver = "fazt-sqlite3-reader"
)

// writerPragmas are added on the write connection: checkpoints run in the
// background on their own connection (see checkpointer), not inside a
// commit that a user waits for.
var writerPragmas = []string{
	"PRAGMA wal_autocheckpoint = 0",
}

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: hook(append(append([]string{}, connPragmas...), writerPragmas...))})
	sql.Register(readerDriver, &sqlite3.SQLiteDriver{ConnectHook: hook(append(append([]string{}, connPragmas...), readerPragmas...))})
}

func hook(pragmas []string) func(*sqlite3.SQLiteConn) error {
	return func(c *sqlite3.SQLiteConn) error {
		for _, p := range pragmas {
			if _, err := c.Exec(p, nil); err != nil {
				return err
			}
		}
		return nil
	}
}
