package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// Space on a full disk. A database that fills its disk cannot delete (a
// delete writes the WAL too), cannot recover after a crash and loses the
// batch whose commit fails. So the disk is never filled by fazt:
//
//   - Every change that may grow the database (data and metadata alike) is
//     held to the reserve: it is refused with NoSpace unless, after it, the
//     disk keeps Reserve bytes free (see roomFor). A change of n bytes costs
//     n in the WAL until the next checkpoint and, for good, whatever of n
//     the free pages inside the database cannot hold (they are reused
//     before the file grows).
//   - Changes that free space (deletions, truncations) are not held to the
//     reserve: that is what it is for.
//   - Something else may still fill the disk (logs, another program). A
//     ballast file (the database's name + "-reserve") holds ballastSize bytes
//     of it; when the disk is nearly full it is deleted before a deletion or
//     an open, so that those can always run, and made again once the disk
//     has room.
//   - When space is short the WAL is checkpointed and truncated at once,
//     giving its space back, instead of waiting for it to reach walLimit.

// Space is what the disk holding the database has left for it.
type Space struct {
	Free     int64 // bytes free on the disk for unprivileged users
	Total    int64 // the disk's size
	Size     int64 // the database's size in pages, free ones included
	Reusable int64 // free pages inside the database, reused before it grows
	Pending  int64 // what the next checkpoint adds to the database file
	WAL      int64 // the write-ahead log's size
	Reserve  int64 // kept free for deletions, checkpoints and restarts
	Ballast  int64 // the ballast file's size, 0 if it is released
	Room     int64 // the largest change that is not refused
}

// Refusing says whether changes that grow the database are refused.
func (s Space) Refusing() bool { return s.Room < cost(smallChange) }

// Writes is how status files say whether writes are taken: "ok", or
// "refused" with the cause.
func (s Space) Writes() string {
	if !s.Refusing() {
		return "ok"
	}
	return fmt.Sprintf("refused (no space: %d bytes free on the disk, %d inside the database, %d kept free)",
		s.Free, s.Reusable, s.Reserve)
}

// smallChange is what a change of the tree's metadata is counted as (a few
// pages of the WAL), whatever its size: symlink targets and names are at
// most a few KiB.
const smallChange = 64 << 10

// reserveFor is what fazt keeps free on a disk of total bytes: 64 MiB, or a
// tenth of a small disk.
func reserveFor(total int64) int64 { return min(64<<20, total/10) }

// ballastFor is the ballast's size on a disk of total bytes: room for the
// WAL of a large deletion and for opening the database after a crash.
func ballastFor(total int64) int64 { return min(16<<20, total/50) }

// roomFor is the largest change n that keeps the reserve. Of its cost, the
// growth of the database file beyond its free pages, max(0, n-reusable),
// is for good and must leave the whole reserve free, counting the WAL's
// space as free. Its n bytes of WAL frames are given back when the
// checkpoint truncates the WAL (at once when space is short): until then
// they may use the reserve but its last floor bytes (with the ballast file
// still on the disk, for deletions).
func roomFor(free, wal, pending, reserve, reusable int64) int64 {
	lasting := free + wal - pending - reserve
	if lasting < 0 {
		return 0
	}
	room := reusable + lasting
	passing := free - pending - min(reserve, floor)
	switch {
	case passing <= 0:
		return 0
	case passing <= reusable:
		room = min(room, passing)
	default:
		room = min(room, (passing+reusable)/2)
	}
	return room
}

// space measures the disk and the database. wmu must be held: the page
// counts are the writer's, with the open batch's changes.
func (db *DB) space() (Space, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(db.path), &st); err != nil {
		return Space{}, kernel.E(kernel.Internal, fmt.Sprintf("statfs: %v", err))
	}
	s := Space{Free: int64(st.Bavail) * st.Bsize, Total: int64(st.Blocks) * st.Bsize}
	var pageSize, pages, free int64
	if err := db.wc.QueryRowContext(context.Background(), `SELECT page_size, page_count, freelist_count
		FROM pragma_page_size, pragma_page_count, pragma_freelist_count`).Scan(&pageSize, &pages, &free); err != nil {
		return Space{}, classify(err)
	}
	s.Size, s.Reusable = pages*pageSize, free*pageSize
	if fi, err := os.Stat(db.path); err == nil {
		s.Pending = max(0, pages*pageSize-fi.Size())
	}
	if fi, err := os.Stat(db.path + "-wal"); err == nil {
		s.WAL = fi.Size()
	}
	if fi, err := os.Stat(db.ballastPath()); err == nil {
		s.Ballast = fi.Size()
	}
	s.Reserve = reserveFor(s.Total)
	s.Room = roomFor(s.Free, s.WAL, s.Pending, s.Reserve, s.Reusable)
	return s, nil
}

// Space reports the disk's space as the write path counts it.
func (db *DB) Space() (Space, error) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wc == nil {
		return Space{}, kernel.E(kernel.Unavailable, "database closed")
	}
	return db.space()
}

// Room fails with NoSpace unless a change of need bytes leaves the reserve
// free. Writers of data call it with the data's size before the change;
// Write itself counts every change as smallChange.
func (db *DB) Room(need int64) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wc == nil {
		return kernel.E(kernel.Unavailable, "database closed")
	}
	return db.roomLocked(need)
}

// roomLocked is Room with wmu held. On a disk short of space it first
// gives the WAL's space back (see truncateWAL), so that what it measures is
// what a change will find: nothing waits in the WAL to be checkpointed.
func (db *DB) roomLocked(need int64) error {
	if time.Now().UnixNano() < db.ample.Load() && need <= smallChange {
		return nil
	}
	need = cost(need)
	s, err := db.space()
	if err != nil {
		return nil // cannot tell: SQLite will say if the disk is full
	}
	if s.Room < need || db.short.Load() {
		s = db.reclaimWAL(s)
	}
	db.short.Store(s.Room < s.Reserve)
	if s.Room >= need {
		// A change per syscall is cheap, but not free: with a lot of
		// room, look again only every ampleFor.
		if s.Room >= ampleRoom {
			db.ample.Store(time.Now().Add(ampleFor).UnixNano())
		}
		return nil
	}
	err = kernel.E(kernel.NoSpace, fmt.Sprintf(
		"no space left on device: %d bytes free on the disk and %d free inside the database; fazt keeps %d free for deletions and restarts",
		s.Free, s.Reusable, s.Reserve))
	db.logRefusal(err)
	return err
}

// cost is what a change of need bytes is counted as: WAL frames carry
// headers, and b-tree pages change with the data.
func cost(need int64) int64 { return need + need/32 + smallChange/4 }

// With ampleRoom to spare, small changes skip the measure for ampleFor:
// even at a disk's full write speed they cannot use it up in that time.
const (
	ampleRoom = 1 << 30
	ampleFor  = 100 * time.Millisecond
)

// reclaimWAL gives the WAL's space back (truncateWAL) if it holds some and
// the disk can take the checkpoint, and returns the space measured again.
// wmu must be held.
func (db *DB) reclaimWAL(s Space) Space {
	if s.WAL <= smallChange || s.Pending >= s.Free-floor/2 || !db.truncateWAL() {
		return s
	}
	if again, err := db.space(); err == nil {
		return again
	}
	return s
}

// truncateWAL commits the open batch, checkpoints the whole WAL and
// truncates it, giving its space back to the disk; it reports whether it
// did. Not with a WAL owner, which restarts the WAL itself. wmu must be
// held, and the disk must have room for what the checkpoint adds to the
// database file (see hasRoom).
func (db *DB) truncateWAL() bool {
	if db.walOwner.Load() != nil {
		return false
	}
	if err := db.commitLocked(false); err != nil {
		return false
	}
	var busy, frames, copied int
	// Two checkpoints at once: the second fails at once with busy.
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	err := db.wc.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied)
	if err != nil || busy != 0 {
		db.log.Warn("storage: checkpoint to free space failed", "err", err, "busy", busy, "frames", frames, "copied", copied)
		return false
	}
	return true
}

// floor is the free space below which a deletion or an open releases the
// ballast first.
const floor = 1 << 20

// freeing prepares a change that frees space. Deletions write the WAL too,
// a few pages each: on a short disk the WAL's space is given back whenever
// it nears the end of the disk (see truncateWAL), and on a nearly full one
// the ballast goes first. It reports whether the disk is short of its
// reserve. wmu must be held.
func (db *DB) freeing() (short bool) {
	if time.Now().UnixNano() < db.ample.Load() {
		return false
	}
	s, err := db.space()
	if err != nil {
		return false
	}
	if s.Free-s.Pending < 2*floor {
		s = db.reclaimWAL(s)
	}
	if s.Free < floor+smallChange {
		db.releaseBallast("a deletion")
	}
	if s.Room >= ampleRoom {
		// As for other changes: a stream of deletions alone (rm -r)
		// otherwise measured the disk before each one.
		db.ample.Store(time.Now().Add(ampleFor).UnixNano())
	}
	return s.Free < s.Reserve
}

// releaseBallastIfFull is freeing before the database is open: opening it
// after a crash (recovery, the shared-memory file) needs some room.
func (db *DB) releaseBallastIfFull() {
	var st syscall.Statfs_t
	if syscall.Statfs(filepath.Dir(db.path), &st) == nil && int64(st.Bavail)*st.Bsize < floor+smallChange {
		db.releaseBallast("opening the database")
	}
}

func (db *DB) ballastPath() string { return db.path + "-reserve" }

// releaseBallast deletes the ballast file, if there is one.
func (db *DB) releaseBallast(why string) {
	if err := os.Remove(db.ballastPath()); err == nil {
		db.log.Warn("storage: the disk is full; released the reserve file for "+why, "path", db.ballastPath())
	}
}

// keepBallast makes the ballast file if it is missing and the disk has room
// for it beyond the reserve. Its blocks are allocated (fallocate), not a
// sparse size.
func (db *DB) keepBallast() {
	p := db.ballastPath()
	if _, err := os.Stat(p); err == nil {
		return
	}
	var st syscall.Statfs_t
	if syscall.Statfs(filepath.Dir(db.path), &st) != nil {
		return
	}
	total, free := int64(st.Blocks)*st.Bsize, int64(st.Bavail)*st.Bsize
	size := ballastFor(total)
	if size == 0 || free < size+reserveFor(total)+floor {
		return
	}
	f, err := os.OpenFile(p+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil {
		err = os.Rename(p+".tmp", p)
	}
	if err != nil {
		os.Remove(p + ".tmp")
	}
}

// refusalEvery bounds how often refused changes are logged: a full disk
// refuses every write, and the log shares that disk.
const refusalEvery = time.Minute

// logRefusal logs a change refused for want of space, at most once every
// refusalEvery, with how many were refused since the last line.
func (db *DB) logRefusal(err error) {
	db.refusals.Add(1)
	now := time.Now().UnixNano()
	last := db.refusedLogged.Load()
	if now-last < int64(refusalEvery) || !db.refusedLogged.CompareAndSwap(last, now) {
		return
	}
	db.log.Warn("storage: write refused", "err", err, "refused", db.refusals.Swap(0))
}
