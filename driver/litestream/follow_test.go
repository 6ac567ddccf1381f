package litestream

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/storage"
)

// A follower keeps a restored fazt database current with the replica the
// child writes: each transaction applied whole, a damaged file changing
// nothing, the position kept across a reopen.
func TestFollower(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := startPrimary(t, dir)
	exec, replicated, replica := p.exec, p.replicated, p.replica
	exec("INSERT INTO routes(host, target) VALUES ('a.example', 'a')")
	txid := replicated()

	fPath := filepath.Join(dir, "follower.db")
	if at, err := RestoreToFollow(ctx, replica, fPath, ""); err != nil || at != txid {
		t.Fatalf("restored to follow at %d (%v), want %d", at, err, txid)
	}
	if _, err := RestoreToFollow(ctx, replica, fPath, ""); err == nil {
		t.Fatal("a restore to follow over an existing database")
	}
	fdb, err := storage.Open(ctx, fPath, storage.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { fdb.Close() }()
	fol, err := NewFollower(ctx, replica, fdb, "")
	if err != nil {
		t.Fatal(err)
	}
	hosts := func() string {
		t.Helper()
		var s sql.NullString
		if err := fdb.QueryRow(ctx, `SELECT group_concat(host, ' ') FROM (SELECT host FROM routes ORDER BY host)`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s.String
	}
	if n, err := fol.Step(ctx); err != nil || n != 0 || hosts() != "a.example" {
		t.Fatalf("a current follower: %d files applied, %v, hosts %q", n, err, hosts())
	}

	// Three transactions on the primary reach the follower in one step.
	exec("INSERT INTO routes(host, target) VALUES ('b.example', 'b')")
	exec("INSERT INTO routes(host, target) VALUES ('c.example', 'c')")
	exec("DELETE FROM routes WHERE host = 'a.example'")
	last := replicated()
	if n, err := fol.Step(ctx); err != nil || n == 0 || fol.Applied() != last {
		t.Fatalf("step: %d files, %v, at transaction %d of %d", n, err, fol.Applied(), last)
	}
	if h := hosts(); h != "b.example c.example" {
		t.Fatalf("the follower has %q", h)
	}

	// A damaged file is refused whole, and applies once repaired.
	exec("INSERT INTO routes(host, target) VALUES ('d.example', 'd')")
	last = replicated()
	files, _ := filepath.Glob(filepath.Join(dir, "replica", "ltx", "0", "*.ltx"))
	var damaged string
	for _, f := range files {
		if filepath.Base(f) > filepath.Base(damaged) {
			damaged = f
		}
	}
	good, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, good...)
	bad[len(bad)/2] ^= 0xff
	os.WriteFile(damaged, bad, 0o644)
	before := fol.Applied()
	if _, err := fol.Step(ctx); err == nil {
		t.Fatal("a damaged file was applied")
	}
	if h := hosts(); h != "b.example c.example" || fol.Applied() != before {
		t.Fatalf("after a damaged file: %q at %d", h, fol.Applied())
	}
	if st := fol.Status(); st.LastError == "" || st.LastErrorAt.IsZero() {
		t.Fatalf("the damaged file is not in the status: %+v", st)
	}
	os.WriteFile(damaged, good, 0o644)
	if _, err := fol.Step(ctx); err != nil || fol.Applied() != last || hosts() != "b.example c.example d.example" {
		t.Fatalf("after the repair: %v at %d of %d, %q", err, fol.Applied(), last, hosts())
	}

	// The position holds across a reopen.
	fdb.Close()
	if fdb, err = storage.Open(ctx, fPath, storage.Options{Log: quiet}); err != nil {
		t.Fatal(err)
	}
	if fol, err = NewFollower(ctx, replica, fdb, ""); err != nil || fol.Applied() != last {
		t.Fatalf("reopened follower at %d, want %d (%v)", fol.Applied(), last, err)
	}
	var check string
	fdb.QueryRow(ctx, `PRAGMA integrity_check`).Scan(&check)
	if n, err := fol.Step(ctx); err != nil || n != 0 || check != "ok" {
		t.Fatalf("reopened: %d files, %v, integrity %q", n, err, check)
	}

	// Running: each change reaches the follower, which says so.
	got := make(chan uint64, 16)
	fol.Open(20*time.Millisecond, func(txid uint64) { got <- txid })
	defer fol.Close()
	for i, host := range []string{"e.example", "f.example"} {
		exec("INSERT INTO routes(host, target) VALUES ('" + host + "', 'x')")
		last = replicated()
		timeout := time.After(30 * time.Second)
		for applied := uint64(0); applied < last; {
			select {
			case applied = <-got:
			case <-timeout:
				t.Fatalf("change %d: the follower did not apply transaction %d (at %d)", i, last, fol.Applied())
			}
		}
	}
	st := fol.Status()
	if st.Applied != last || st.AppliedAt.IsZero() || st.Written.IsZero() || st.Written.After(st.AppliedAt) || st.Checked.Before(st.AppliedAt) {
		t.Fatalf("status %+v, want applied %d", st, last)
	}
	if h := hosts(); h != "b.example c.example d.example e.example f.example" {
		t.Fatalf("the running follower has %q", h)
	}
	fol.Close()
	if st := fol.Status(); st.LastError != "" {
		t.Fatalf("a follower reopened after the damage reports %q", st.LastError)
	}

	// Past compaction: level 0 pruned, the next transactions are found
	// in the levels above (here the snapshot a backup made).
	exec("INSERT INTO routes(host, target) VALUES ('g.example', 'x')")
	last = replicated()
	pruned, _ := filepath.Glob(filepath.Join(dir, "replica", "ltx", "0", "*.ltx"))
	for _, f := range pruned {
		os.Remove(f)
	}
	if n, err := fol.Step(ctx); err != nil || n == 0 || fol.Applied() != last || !strings.HasSuffix(hosts(), "g.example") {
		t.Fatalf("with level 0 pruned: %d files, %v, at %d of %d, %q", n, err, fol.Applied(), last, hosts())
	}
	fdb.QueryRow(ctx, `PRAGMA integrity_check`).Scan(&check)
	if check != "ok" {
		t.Fatalf("integrity after a snapshot applied: %q", check)
	}
}

// A replica that no longer holds the transactions after the follower's
// (compacted and pruned past them, or another database's) is said so,
// and nothing is applied.
func TestFollowerHistoryGone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := startPrimary(t, dir)
	p.replicated()
	fPath := filepath.Join(dir, "follower.db")
	at, err := RestoreToFollow(ctx, p.replica, fPath, "")
	if err != nil {
		t.Fatal(err)
	}
	// Three more transactions, each synced to the replica (level 0) by a
	// backup.
	for i := range 3 {
		p.exec(fmt.Sprintf("INSERT INTO routes(host, target) VALUES ('h%d.example', 'x')", i))
		p.replicated()
	}
	p.stop()
	// History pruned: the next transaction's file and every level above
	// level 0 (the backups' snapshots included) are gone.
	levels, _ := filepath.Glob(filepath.Join(dir, "replica", "ltx", "*"))
	for _, l := range levels {
		if filepath.Base(l) != "0" {
			os.RemoveAll(l)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "replica", "ltx", "0", "*.ltx"))
	removed := 0
	for _, f := range files {
		var lo, hi uint64
		if _, err := fmt.Sscanf(filepath.Base(f), "%016x-%016x.ltx", &lo, &hi); err == nil && lo <= at+1 && hi >= at+1 {
			os.Remove(f)
			removed++
		}
	}
	if removed == 0 {
		t.Fatalf("no level 0 file holds transaction %d: %v", at+1, files)
	}
	fdb, err := storage.Open(context.Background(), fPath, storage.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer fdb.Close()
	fol, err := NewFollower(context.Background(), p.replica, fdb, "")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := fol.Step(context.Background()); !errors.Is(err, ErrHistoryGone) || n != 0 || fol.Applied() != at {
		t.Fatalf("history gone: %d files, %v, at %d (want %d)", n, err, fol.Applied(), at)
	}
	var hosts int
	fdb.QueryRow(context.Background(), `SELECT count(*) FROM routes`).Scan(&hosts)
	if hosts != 0 {
		t.Fatalf("%d routes applied past the gap", hosts)
	}
}

// primary is a fazt database (its schema), written with Litestream's own
// SQLite as in TestChildBackupAndRestore, and the child replicating it to
// a directory, in this process.
type primary struct {
	t       *testing.T
	db      *sql.DB
	d       *Driver
	replica string
	stop    func() // stops the child; once, also at the test's end
}

func startPrimary(t *testing.T, dir string) *primary {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(dir, "primary.db")
	sdb, err := storage.Open(ctx, path, storage.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &primary{t: t, db: db, d: &Driver{socket: filepath.Join(dir, "ctl.sock")}, replica: "file://" + filepath.Join(dir, "replica")}
	p.exec("PRAGMA journal_mode = WAL")
	done := make(chan error, 1)
	go func() {
		done <- RunChild(ctx, ChildConfig{DB: path, Meta: filepath.Join(dir, "meta"), Socket: p.d.socket, Replica: p.replica, Log: quiet})
	}()
	var once sync.Once
	p.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(p.stop)
	waitChild(t, ctx, p.d)
	return p
}

func (p *primary) exec(q string) {
	p.t.Helper()
	if _, err := p.db.Exec(q); err != nil {
		p.t.Fatal(err)
	}
}

// replicated makes the replica hold everything written so far (a backup:
// level 0 synced, and a snapshot) and returns its last transaction.
func (p *primary) replicated() uint64 {
	p.t.Helper()
	var snap Snapshot
	if err := p.d.call(context.Background(), "POST", "/backup", &snap); err != nil {
		p.t.Fatal(err)
	}
	return snap.TXID
}
