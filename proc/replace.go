package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fazt-sh/fazt/driver/litestream"
)

// ReplaceDatabase swaps the database of the data directory dir for the
// file restored (a restore next to it, on the same file system), keeping
// the old one aside, and returns where. No kernel may run: the data
// directory's lock is held for the swap, so none starts meanwhile.
// Litestream's local state is dropped, so that the next replication starts
// from the new database with a snapshot.
func ReplaceDatabase(dir, restored string) (aside string, err error) {
	lock, err := LockDataDir(dir)
	if err != nil {
		return "", err
	}
	defer lock.Release()
	live := filepath.Join(dir, DatabaseFile)
	aside = live + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
	moved, err := moveDatabase(live, aside)
	if err != nil {
		return "", err
	}
	if err := os.Rename(restored, live); err != nil {
		putBack(moved, aside, live)
		return "", fmt.Errorf("swap in the restored database: %w", err)
	}
	syncDir(dir) // the renames are durable before anything starts on them
	if err := os.RemoveAll(litestream.MetaDir(dir)); err != nil {
		return aside, fmt.Errorf("drop Litestream's state: %w", err)
	}
	if len(moved) == 0 {
		aside = ""
	}
	return aside, nil
}

// moveDatabase renames the database at live, with its WAL and the WAL's
// index, to to, and returns the suffixes it moved; on an error it puts
// back what it moved. The WAL goes first: a kill between two renames
// leaves the database without its WAL (as of its last checkpoint), never
// a WAL beside a database it does not belong to, which SQLite would apply.
func moveDatabase(live, to string) ([]string, error) {
	var moved []string
	for _, suffix := range []string{"-wal", "-shm", ""} {
		err := os.Rename(live+suffix, to+suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			putBack(moved, to, live)
			return nil, fmt.Errorf("move the database aside: %w", err)
		}
		moved = append(moved, suffix)
	}
	return moved, nil
}

// putBack undoes moveDatabase, the database first.
func putBack(moved []string, from, live string) {
	for i := len(moved) - 1; i >= 0; i-- {
		os.Rename(from+moved[i], live+moved[i])
	}
}
