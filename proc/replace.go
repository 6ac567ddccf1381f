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
	// The WAL and its index go with the file they belong to; a cleanly
	// closed database has an empty WAL, and a crashed one needs it.
	moved := []string{}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		err := os.Rename(live+suffix, aside+suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			for _, s := range moved { // put back what was moved
				os.Rename(aside+s, live+s)
			}
			return "", fmt.Errorf("move the database aside: %w", err)
		}
		moved = append(moved, suffix)
	}
	if err := os.Rename(restored, live); err != nil {
		for _, s := range moved {
			os.Rename(aside+s, live+s)
		}
		return "", fmt.Errorf("swap in the restored database: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the renames are durable before anything starts on them
		d.Close()
	}
	if err := os.RemoveAll(litestream.MetaDir(dir)); err != nil {
		return aside, fmt.Errorf("drop Litestream's state: %w", err)
	}
	if len(moved) == 0 {
		aside = ""
	}
	return aside, nil
}
