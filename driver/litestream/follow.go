package litestream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	upstream "github.com/benbjohnson/litestream"
	"github.com/superfly/ltx"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// Follower keeps a database current with a replica: every transaction that
// reaches the replica after the one the database holds is applied to it,
// in order, as the pages it changed (storage.ApplyPages: one durable
// transaction each, so readers see it whole). The last transaction applied
// is kept in a file beside the database, written after each apply: a crash
// between the two applies that transaction's pages once more, which
// changes nothing (they are images, not deltas).
//
// Litestream's own follow mode (restore -f) is not used: it writes the
// pages into the database file from outside SQLite (see storage/pages.go).
type Follower struct {
	client upstream.ReplicaClient
	db     *storage.DB
	txidAt string // the file that keeps the last transaction applied

	stepMu  sync.Mutex // one Step at a time; guards applied
	applied ltx.TXID

	mu     sync.Mutex // guards status
	status FollowStatus

	// Set by Open, used by Close (the owner's goroutine only).
	stop context.CancelFunc
	done chan struct{} // closed when the loop of Open ends
}

// FollowStatus is how a follower is doing.
type FollowStatus struct {
	Applied     uint64    // the last transaction of the replica the database holds
	AppliedAt   time.Time // when the last one was applied; zero before
	Written     time.Time // when the replica received it (its file's time)
	Checked     time.Time // the last look at the replica
	LastError   string
	LastErrorAt time.Time
}

// Failing says the last look at the replica failed (LastError says why).
func (st FollowStatus) Failing() bool {
	return st.LastError != "" && !st.LastErrorAt.Before(st.Checked)
}

// ApplyDelay is the seconds from the replica receiving the last
// transaction applied to its being applied here, "-" before one.
func (st FollowStatus) ApplyDelay() string {
	if st.AppliedAt.IsZero() || st.Written.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%.3f", st.AppliedAt.Sub(st.Written).Seconds())
}

// NewFollower follows the replica at url into db, which holds the
// replica's transactions up to the one its TXID file names (a restore
// writes it, see WriteFollowTXID); dataDir holds saved credentials.
func NewFollower(ctx context.Context, url string, db *storage.DB, dataDir string) (*Follower, error) {
	client, err := replicaClient(url, dataDir)
	if err != nil {
		return nil, err
	}
	if err := db.HasPageWrites(ctx); err != nil {
		return nil, err
	}
	f := &Follower{client: client, db: db, txidAt: FollowTXIDPath(db.Path())}
	if f.applied, err = readFollowTXID(f.txidAt); err != nil {
		return nil, err
	}
	f.status.Applied = uint64(f.applied)
	return f, nil
}

// Open steps the follower every interval until Close, and calls applied
// after each step that applied transactions (the caches of what the
// database holds are then stale).
func (f *Follower) Open(every time.Duration, applied func(txid uint64)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.stop, f.done = cancel, done
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if n, _ := f.Step(ctx); n > 0 && applied != nil {
				applied(f.Applied())
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the loop of Open and waits for it.
func (f *Follower) Close() {
	if f.stop == nil {
		return
	}
	f.stop()
	<-f.done
	f.stop = nil
}

// Status says how the follower is doing.
func (f *Follower) Status() FollowStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// RestoreToFollow restores the replica at url into dbPath (which must not
// exist), as of its latest transaction, and records that transaction for
// a Follower to go on from; dataDir holds saved credentials.
func RestoreToFollow(ctx context.Context, url, dbPath, dataDir string) (uint64, error) {
	client, err := replicaClient(url, dataDir)
	if err != nil {
		return 0, err
	}
	b, err := listBackups(ctx, client)
	if err != nil {
		return 0, fmt.Errorf("list the backups of %s: %w", redact(url), err)
	}
	if b.MaxTXID == 0 {
		return 0, fmt.Errorf("%w: the replica %s holds no backup", ErrOutsideWindow, redact(url))
	}
	// Restored as of a transaction named here, not "the latest": one
	// that lands meanwhile would be in the file and not in the record.
	if err := RunRestore(ctx, RestoreConfig{Replica: url, Output: dbPath, TXID: b.MaxTXID, DataDir: dataDir}); err != nil {
		return 0, err
	}
	if err := WriteFollowTXID(dbPath, b.MaxTXID); err != nil {
		os.Remove(dbPath)
		return 0, err
	}
	return b.MaxTXID, nil
}

// Follow makes this kernel an edge of the replica written ("URL", or "URL
// standby" for a standby): the replica must hold a backup, then the kernel
// (Options.BecomeFollower) checks that its database holds nothing of its
// own and restarts as a follower of it.
func (d *Driver) Follow(ctx context.Context, v string) error {
	url, mode, _ := strings.Cut(strings.TrimSpace(v), " ")
	if mode = strings.TrimSpace(mode); mode != "" && mode != "standby" {
		return kernel.E(kernel.Invalid, fmt.Sprintf("bad follow %q: URL, or URL standby", v))
	}
	if err := ValidURL(url); err != nil {
		return err
	}
	if f := d.opt.DB.Follows(); f != "" {
		return kernel.E(kernel.Exist, "this fazt follows "+redact(f)+" already")
	}
	if d.opt.BecomeFollower == nil {
		return kernel.E(kernel.NotSupported, "this kernel cannot become a follower from its tree: start it with --follow URL")
	}
	client, err := replicaClient(url, d.opt.DataDir)
	if err != nil {
		return err
	}
	b, err := listBackups(ctx, client)
	if err != nil {
		return kernel.E(kernel.Unavailable, fmt.Sprintf("cannot read the replica %s: %v", redact(url), err))
	}
	if b.MaxTXID == 0 {
		return kernel.E(kernel.NotExist, "the replica "+redact(url)+" holds no backup: nothing to follow")
	}
	if mode == "standby" {
		if _, err := OpenLease(url, d.opt.DataDir, d.opt.Owner, 0); err != nil {
			return err
		}
	}
	return d.opt.BecomeFollower(ctx, url, mode == "standby")
}

// FollowTXIDPath is where a follower keeps the last transaction applied to
// the database at dbPath.
func FollowTXIDPath(dbPath string) string { return dbPath + "-follow-txid" }

// WriteFollowTXID records that the database at dbPath holds the replica's
// transactions up to txid (after a restore, before following).
func WriteFollowTXID(dbPath string, txid uint64) error {
	return writePrivate(FollowTXIDPath(dbPath), strconv.FormatUint(txid, 10)+"\n")
}

func readFollowTXID(path string) (ltx.TXID, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, kernel.E(kernel.NotExist, fmt.Sprintf("%s: the database does not say which of the replica's transactions it holds (restore it to follow): %v", path, err))
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n == 0 {
		return 0, kernel.E(kernel.Invalid, fmt.Sprintf("%s: not a transaction number: %q", path, b))
	}
	return ltx.TXID(n), nil
}

// Applied is the last transaction of the replica the database holds.
func (f *Follower) Applied() uint64 {
	f.stepMu.Lock()
	defer f.stepMu.Unlock()
	return uint64(f.applied)
}

// ErrHistoryGone says the replica no longer holds the transactions that
// follow the database's: it was compacted or pruned past them, or belongs
// to another database. Only a new restore can follow it.
var ErrHistoryGone = errors.New("the replica no longer holds the transactions after this database's")

// Step applies every transaction the replica has after the database's,
// and reports how many files it applied.
func (f *Follower) Step(ctx context.Context) (files int, err error) {
	f.stepMu.Lock()
	defer f.stepMu.Unlock()
	defer func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.status.Checked = time.Now()
		if err != nil {
			f.status.LastError, f.status.LastErrorAt = err.Error(), f.status.Checked
		}
	}()
	for {
		info, err := f.next(ctx)
		if err != nil {
			return files, err
		}
		if info == nil {
			return files, nil
		}
		if err := f.apply(ctx, info); err != nil {
			return files, err
		}
		f.applied = info.MaxTXID
		files++
		f.mu.Lock()
		f.status.Applied, f.status.AppliedAt, f.status.Written = uint64(info.MaxTXID), time.Now(), info.CreatedAt
		f.mu.Unlock()
		if err := writePrivate(f.txidAt, strconv.FormatUint(uint64(f.applied), 10)+"\n"); err != nil {
			return files, fmt.Errorf("record transaction %d: %w", f.applied, err)
		}
	}
}

// next finds the file that continues the database: from level 0 (one per
// sync), else, when level 0 was compacted past it, from the lowest level
// that covers the gap, snapshots last (a file of a higher level holds, for
// every page its transactions changed, the page as of its last one, so one
// that starts before the next transaction applies as well); nil when the
// database is current.
func (f *Follower) next(ctx context.Context) (*ltx.FileInfo, error) {
	var ahead bool // the replica has later transactions, not contiguous with ours
	for level := 0; level <= upstream.SnapshotLevel; level++ {
		info, later, seen, err := f.continuing(ctx, level)
		if err != nil || info != nil {
			return info, err
		}
		if level == 0 && seen && !later {
			// Level 0 holds the newest transactions, and ours is
			// among them: current, without listing the others (a
			// look a second, each a LIST on S3).
			return nil, nil
		}
		ahead = ahead || later
	}
	if ahead {
		return nil, fmt.Errorf("%w (it holds none from transaction %d on)", ErrHistoryGone, f.applied+1)
	}
	return nil, nil
}

// continuing returns the file of level that starts at or before the next
// transaction and ends after ours; later says the level has files that
// start past it, seen that it has files at all.
func (f *Follower) continuing(ctx context.Context, level int) (info *ltx.FileInfo, later, seen bool, err error) {
	itr, err := f.client.LTXFiles(ctx, level, 0, false)
	if err != nil {
		return nil, false, false, fmt.Errorf("list the replica's level %d: %w", level, err)
	}
	defer itr.Close()
	for itr.Next() {
		info := itr.Item()
		seen = true
		switch {
		case info.MaxTXID <= f.applied:
			continue
		case info.MinTXID <= f.applied+1:
			return info, false, true, nil
		default:
			later = true
		}
	}
	return nil, later, seen, itr.Err()
}

// apply writes one file's pages in one transaction. The file's checksum is
// verified before the transaction commits: a damaged file changes nothing.
func (f *Follower) apply(ctx context.Context, info *ltx.FileInfo) error {
	rc, err := f.client.OpenLTXFile(ctx, info.Level, info.MinTXID, info.MaxTXID, 0, 0)
	if err != nil {
		return fmt.Errorf("open the replica's transactions %d-%d: %w", info.MinTXID, info.MaxTXID, err)
	}
	defer rc.Close()
	dec := ltx.NewDecoder(rc)
	if err := dec.DecodeHeader(); err != nil {
		return fmt.Errorf("transactions %d-%d: %w", info.MinTXID, info.MaxTXID, err)
	}
	hdr := dec.Header()
	var pageSize uint32
	if err := f.db.QueryRow(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return err
	}
	if hdr.PageSize != pageSize {
		return kernel.E(kernel.Invalid, fmt.Sprintf("the replica's pages are %d bytes, this database's %d: not its replica", hdr.PageSize, pageSize))
	}
	done := false
	next := func() (storage.Page, bool, error) {
		if done {
			return storage.Page{}, false, nil
		}
		var ph ltx.PageHeader
		data := make([]byte, pageSize)
		err := dec.DecodePage(&ph, data)
		if err == io.EOF {
			done = true
			// The trailer's checksum, before the transaction commits.
			if err := dec.Close(); err != nil {
				return storage.Page{}, false, fmt.Errorf("transactions %d-%d: %w", info.MinTXID, info.MaxTXID, err)
			}
			return storage.Page{}, false, nil
		}
		if err != nil {
			return storage.Page{}, false, fmt.Errorf("transactions %d-%d: %w", info.MinTXID, info.MaxTXID, err)
		}
		return storage.Page{No: ph.Pgno, Data: data}, true, nil
	}
	return f.db.ApplyPages(ctx, hdr.Commit, next)
}
