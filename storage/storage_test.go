package storage

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/mattn/go-sqlite3"
)

func openTest(t *testing.T, path string, opt Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Every connection of both pools carries the production pragmas.
func TestPragmasOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, filepath.Join(t.TempDir(), "fazt.db"), Options{Readers: 3})

	check := func(name string, conn *sql.Conn, reader bool) {
		t.Helper()
		want := map[string]int64{"busy_timeout": 5000, "synchronous": 1, "foreign_keys": 0, "temp_store": 2,
			"cache_size": -16384, "journal_size_limit": 16 << 20}
		if reader {
			want["query_only"] = 1
		} else {
			want["query_only"] = 0
			want["wal_autocheckpoint"] = 0
		}
		for p, v := range want {
			var got int64
			if err := conn.QueryRowContext(ctx, "PRAGMA "+p).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != v {
				t.Errorf("%s: PRAGMA %s = %d, want %d", name, p, got, v)
			}
		}
		var mode string
		if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%s: journal_mode = %q, %v", name, mode, err)
		}
		var app int64
		if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil || app != ApplicationID {
			t.Errorf("%s: application_id = %x, %v", name, app, err)
		}
	}
	db.wmu.Lock()
	check("writer", db.wc, false)
	db.wmu.Unlock()
	// Hold three reader connections at once so they are distinct.
	var conns []*sql.Conn
	for i := 0; i < 3; i++ {
		c, err := db.r.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		check("reader", c, true)
	}
	for _, c := range conns {
		c.Close()
	}
	// A reader cannot write.
	_, err := db.r.ExecContext(ctx, "INSERT INTO fazt_meta(key, value) VALUES ('x', 'y')")
	if err == nil {
		t.Fatal("write through the reader pool succeeded")
	}
}

// Released migrations never change; every migration is in the released list.
func TestReleasedMigrationsUnchanged(t *testing.T) {
	f, err := os.Open("testdata/released-migrations.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	released := map[string]string{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			t.Fatalf("bad line %q", sc.Text())
		}
		released[fields[0]] = fields[1]
		order = append(order, fields[0])
	}
	all, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]Migration{}
	for _, m := range all {
		have[m.Name] = m
	}
	for _, name := range order {
		m, ok := have[name]
		switch {
		case !ok:
			t.Errorf("released migration %s was removed; migrations are append-only", name)
		case m.SHA256 != released[name]:
			t.Errorf("released migration %s changed (sha256 %s, released %s); add a new migration instead", name, m.SHA256, released[name])
		}
	}
	last := ""
	if len(order) > 0 {
		last = order[len(order)-1]
	}
	for _, m := range all {
		if _, ok := released[m.Name]; !ok {
			if m.Name < last {
				t.Errorf("new migration %s sorts before released %s; name it so it runs last", m.Name, last)
			}
			t.Errorf("migration %s is not in testdata/released-migrations.txt; when it is final, append:\n%s %s", m.Name, m.Name, m.SHA256)
		}
	}
}

func TestLintMigration(t *testing.T) {
	bad := []string{
		"DROP TABLE inodes;",
		"drop index x;",
		"ALTER TABLE inodes RENAME TO nodes;",
		"ALTER TABLE inodes RENAME COLUMN a TO b;",
		"ALTER TABLE inodes DROP COLUMN size;",
		"ALTER TABLE inodes ADD COLUMN flags INTEGER NOT NULL;",
		"CREATE TABLE a (x INTEGER REFERENCES b(id));",
		"CREATE TABLE a (x INTEGER, FOREIGN KEY (x) REFERENCES b(id));",
		"/* fine */ DROP VIEW v;",
	}
	for _, s := range bad {
		if err := LintMigration(s); err == nil {
			t.Errorf("LintMigration(%q) = nil, want an error", s)
		}
	}
	good := []string{
		"CREATE TABLE a (x INTEGER);",
		"ALTER TABLE inodes ADD COLUMN flags INTEGER;",
		"ALTER TABLE inodes ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;",
		"-- we never DROP anything\nCREATE INDEX i ON a(x);",
		"INSERT INTO t(v) VALUES ('DROP TABLE x; RENAME');",
		`CREATE TABLE "drop" (x);`,
		"/* RENAME */ CREATE TABLE b (y);",
	}
	for _, s := range good {
		if err := LintMigration(s); err != nil {
			t.Errorf("LintMigration(%q) = %v, want nil", s, err)
		}
	}
}

func TestOpenAppliesMigrationsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fazt.db")
	db := openTest(t, path, Options{})
	s := db.Schema()
	all, _ := Migrations()
	if len(s.Applied) != len(all) || len(s.Pending) != 0 || len(s.Unknown) != 0 {
		t.Fatalf("schema after first open: %+v", s)
	}
	db.Close()
	db = openTest(t, path, Options{})
	if s2 := db.Schema(); len(s2.Applied) != len(all) || s2.Applied[0].AppliedAt != s.Applied[0].AppliedAt {
		t.Fatalf("schema after reopen: %+v", s2)
	}
}

func mapMigrations(extra map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	all, _ := Migrations()
	for _, mg := range all {
		m[mg.Name] = &fstest.MapFile{Data: []byte(mg.SQL)}
	}
	for k, v := range extra {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

// An older binary runs on a database a newer one migrated (append-only), and
// refuses, clearly, one whose compatibility level it does not support.
func TestNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fazt.db")
	newer := mapMigrations(map[string]string{"9000_newer.sql": "CREATE TABLE newer (x INTEGER);"})
	db, err := Open(ctx, path, Options{Migrations: newer})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("older binary on newer schema: %v", err)
	}
	if s := db.Schema(); len(s.Unknown) != 1 || s.Unknown[0] != "9000_newer.sql" {
		t.Errorf("Unknown = %v", s.Unknown)
	}
	db.Close()

	breaking := mapMigrations(map[string]string{
		"9000_newer.sql": "CREATE TABLE newer (x INTEGER);",
		"9001_break.sql": "-- fazt:compat 7\nCREATE TABLE broken (x INTEGER);",
	})
	if _, err := LoadMigrations(breaking); err != nil {
		t.Fatal(err)
	}
	// This binary refuses to apply a migration above its level...
	if _, err := Open(ctx, path, Options{Migrations: breaking}); kernel.KindOf(err) != kernel.NotSupported {
		t.Fatalf("applying a compat-7 migration: err = %v, want NotSupported", err)
	}
	// ...and a database that is already at a higher level.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('compat', '7')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = Open(ctx, path, Options{})
	if kernel.KindOf(err) != kernel.NotSupported || !strings.Contains(err.Error(), "needs a newer fazt") {
		t.Fatalf("open at compat 7: err = %v", err)
	}
}

func TestChangedMigrationRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fazt.db")
	a := mapMigrations(map[string]string{"9000_x.sql": "CREATE TABLE x (a INTEGER);"})
	db, err := Open(ctx, path, Options{Migrations: a})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	b := mapMigrations(map[string]string{"9000_x.sql": "CREATE TABLE x (a INTEGER, b TEXT);"})
	if _, err := Open(ctx, path, Options{Migrations: b}); err == nil || !strings.Contains(err.Error(), "different content") {
		t.Fatalf("err = %v", err)
	}
}

func TestNotAFaztDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := Open(context.Background(), path, Options{}); kernel.KindOf(err) != kernel.Invalid {
		t.Fatalf("err = %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not sqlite ", 1000)), 0o600)
	if _, err := Open(context.Background(), junk, Options{}); err == nil {
		t.Fatal("opened a junk file")
	}
}

// SQLite errors become kernel kinds here, from real SQLite errors.
func TestClassify(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fazt.db")
	db := openTest(t, path, Options{})

	err := db.Write(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('vfs.block_size', '1')`)
		return err
	})
	if kernel.KindOf(err) != kernel.Exist {
		t.Errorf("unique violation: %v (kind %v)", err, kernel.KindOf(err))
	}
	var v string
	if err := db.QueryRow(ctx, `SELECT value FROM fazt_meta WHERE key = 'nope'`).Scan(&v); kernel.KindOf(err) != kernel.NotExist {
		t.Errorf("no rows: %v", err)
	}
	err = db.Write(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('k', NULL)`)
		return err
	})
	if kernel.KindOf(err) != kernel.Invalid {
		t.Errorf("not null: %v", err)
	}
	if err := db.Write(ctx, func(tx *Tx) error { _, err := tx.Exec(`SELEC nonsense`); return err }); kernel.KindOf(err) != kernel.Internal {
		t.Errorf("syntax error: %v", err)
	}

	// Busy: a second connection (busy_timeout 0) tries to write while our
	// writer holds its transaction.
	other, err := sql.Open("sqlite3", path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- db.Write(ctx, func(tx *Tx) error {
			if _, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('held', '1')`); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	_, err = other.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('other', '1')`)
	if kernel.KindOf(classify(err)) != kernel.Busy {
		t.Errorf("busy: %v -> %v", err, classify(err))
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if kernel.KindOf(classify(sqlite3.Error{Code: sqlite3.ErrFull})) != kernel.NoSpace {
		t.Error("SQLITE_FULL is not NoSpace")
	}
	if kernel.KindOf(classify(context.Canceled)) != kernel.Interrupted {
		t.Error("context.Canceled is not Interrupted")
	}
	if kernel.KindOf(classify(os.ErrNotExist)) != kernel.Internal {
		t.Error("an internal ENOENT must stay internal")
	}
}

func TestWriteRollsBack(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, filepath.Join(t.TempDir(), "fazt.db"), Options{})
	boom := errors.New("boom")
	err := db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('a', '1')`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	func() {
		defer func() { recover() }()
		db.Write(ctx, func(tx *Tx) error {
			tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('b', '1')`)
			panic("in a transaction")
		})
	}()
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM fazt_meta WHERE key IN ('a', 'b')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rolled back rows visible: n=%d err=%v", n, err)
	}
	// The writer still works after a panic.
	if err := db.WriteSync(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('c', '1')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// Changes are batched: visible through View at once, in the reader pool once
// their batch commits (within CommitDelay), and a failing change rolls back
// alone.
func TestBatching(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, filepath.Join(t.TempDir(), "fazt.db"), Options{CommitDelay: 200 * time.Millisecond})
	put := func(k string) error {
		return db.Write(ctx, func(tx *Tx) error {
			_, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES (?, 'v')`, k)
			return err
		})
	}
	count := func(view bool) int {
		var n int
		q := `SELECT count(*) FROM fazt_meta WHERE key LIKE 'k%'`
		if view {
			db.View(ctx, func(tx *Tx) error { return tx.QueryRow(q).Scan(&n) })
		} else {
			db.QueryRow(ctx, q).Scan(&n)
		}
		return n
	}
	start := time.Now()
	if err := put("k1"); err != nil {
		t.Fatal(err)
	}
	if err := put("k1"); kernel.KindOf(err) != kernel.Exist {
		t.Fatalf("duplicate: %v", err)
	}
	if err := put("k2"); err != nil {
		t.Fatal(err)
	}
	if v, r := count(true), count(false); v != 2 || r != 0 && time.Since(start) < 150*time.Millisecond {
		t.Fatalf("before the commit: view sees %d, readers %d", v, r)
	}
	deadline := time.Now().Add(30 * time.Second)
	for count(false) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("batch never committed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := db.WriteSync(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('k3', 'v')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := count(false); n != 3 {
		t.Fatalf("WriteSync did not commit at once: readers see %d", n)
	}
	if db.Lost() != nil {
		t.Fatal(db.Lost())
	}
}

func TestSettings(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, filepath.Join(t.TempDir(), "fazt.db"), Options{})
	for k, v := range map[string]string{"a.x": "1", "a.y": "2", "ab": "3", "b.x": "4"} {
		if err := db.PutSetting(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Settings(ctx, "a.")
	if err != nil || len(got) != 2 || got["x"] != "1" || got["y"] != "2" {
		t.Fatalf("Settings(a.) = %v, %v", got, err)
	}
	if err := db.DeleteSetting(ctx, "a.x"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSetting(ctx, "a.x"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("second delete: %v", err)
	}
	if v, _ := db.Setting(ctx, "a.x", "gone"); v != "gone" {
		t.Fatalf("after delete: %q", v)
	}
}

// A setting's time moves when its value changes, not when the same value
// is saved again, and it is kept across a reopen.
func TestSettingTimes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fazt.db")
	db := openTest(t, path, Options{})
	if at, err := db.SettingTime(ctx, "k"); err != nil || !at.IsZero() {
		t.Fatalf("never set: %v %v", at, err)
	}
	before := time.Now()
	if err := db.PutSetting(ctx, "k", "1"); err != nil {
		t.Fatal(err)
	}
	t1, err := db.SettingTime(ctx, "k")
	if err != nil || t1.Before(before) || t1.After(time.Now()) {
		t.Fatalf("after a set: %v %v (set at %v)", t1, err, before)
	}
	if err := db.PutSetting(ctx, "k", "1"); err != nil {
		t.Fatal(err)
	}
	if at, _ := db.SettingTime(ctx, "k"); !at.Equal(t1) {
		t.Fatalf("the same value again moved the time: %v, then %v", t1, at)
	}
	time.Sleep(2 * time.Millisecond) // a clock that moves in steps
	if err := db.PutSetting(ctx, "k", "2"); err != nil {
		t.Fatal(err)
	}
	t2, _ := db.SettingTime(ctx, "k")
	if !t2.After(t1) {
		t.Fatalf("a new value: %v, was %v", t2, t1)
	}
	// The times are not settings of their own.
	if all, _ := db.Settings(ctx, ""); len(all) != 1 || all["k"] != "2" {
		t.Fatalf("Settings: %v", all)
	}
	db.Close()
	db = openTest(t, path, Options{})
	if at, _ := db.SettingTime(ctx, "k"); !at.Equal(t2) {
		t.Fatalf("after a reopen: %v, was %v", at, t2)
	}
	if err := db.DeleteSetting(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if at, _ := db.SettingTime(ctx, "k"); !at.IsZero() {
		t.Fatalf("after a delete: %v", at)
	}
}

type ownerFunc func(ctx context.Context) error

func (f ownerFunc) Checkpoint(ctx context.Context) error { return f(ctx) }

// With a WAL owner, a full checkpoint is the owner's, after the pending
// batch is committed.
func TestWALOwnerCheckpoints(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, filepath.Join(t.TempDir(), "fazt.db"), Options{CommitDelay: time.Hour})
	if err := db.PutSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	calls := 0
	db.SetWALOwner(ownerFunc(func(ctx context.Context) error {
		calls++
		// The change is committed: a reader sees it.
		if v, err := db.Setting(ctx, "k", ""); err != nil || v != "v" {
			t.Errorf("owner ran before the commit: %q %v", v, err)
		}
		return kernel.E(kernel.Unavailable, "owner says no")
	}))
	if err := db.Checkpoint(ctx); kernel.KindOf(err) != kernel.Unavailable || calls != 1 {
		t.Fatalf("Checkpoint with an owner: %v, %d calls", err, calls)
	}
	db.SetWALOwner(nil)
	if err := db.Checkpoint(ctx); err != nil || calls != 1 {
		t.Fatalf("Checkpoint without: %v, %d calls", err, calls)
	}
}

func TestCopyTo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t, filepath.Join(dir, "fazt.db"), Options{CommitDelay: time.Hour})
	if err := db.PutSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "copy.db")
	if err := db.CopyTo(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if err := db.CopyTo(ctx, cp); err == nil {
		t.Fatal("CopyTo over an existing file succeeded")
	}
	c := openTest(t, cp, Options{})
	if v, err := c.Setting(ctx, "k", ""); err != nil || v != "v" {
		t.Fatalf("copy holds %q, %v", v, err)
	}
}

// roomFor: growth beyond the free pages must leave the whole reserve (the
// WAL's space counted as free); WAL frames may use all but the floor.
func TestRoomFor(t *testing.T) {
	const M = 1 << 20
	for _, c := range []struct {
		name                                  string
		free, wal, pending, reserve, reusable int64
		want                                  int64
	}{
		{"empty disk", 1000 * M, 0, 0, 64 * M, 0, (1000*M - floor) / 2},
		{"at the reserve", 64 * M, 0, 0, 64 * M, 0, 0},
		{"free pages are room", 64 * M, 0, 0, 64 * M, 20 * M, 20 * M},
		{"the WAL comes back", 60 * M, 8 * M, 0, 64 * M, 20 * M, 24 * M},
		{"a pending checkpoint is not room", 70 * M, 0, 10 * M, 64 * M, 0, 0},
		{"frames need the disk", 3 * M, 0, 0, 2 * M, 100 * M, 2 * M},
		{"nothing free", 0, 0, 0, 2 * M, 100 * M, 0},
	} {
		if got := roomFor(c.free, c.wal, c.pending, c.reserve, c.reusable); got != c.want {
			t.Errorf("%s: roomFor = %d, want %d", c.name, got, c.want)
		}
	}
}

// After a large deletion the database file gives the space back by itself
// (incremental auto-vacuum, shrink.go), keeping a share free for reuse.
func TestShrinksAfterDeletion(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, filepath.Join(t.TempDir(), "fazt.db"), Options{})
	if st, err := db.Stats(ctx); err != nil || st.AutoVacuum != autoVacuumIncremental {
		t.Fatalf("a new database's auto_vacuum = %d (%v), want incremental", st.AutoVacuum, err)
	}
	blob := make([]byte, 1<<20)
	if err := db.WriteSync(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(`CREATE TABLE blobs (b BLOB)`); err != nil {
			return err
		}
		for i := 0; i < 100; i++ {
			blob[0] = byte(i)
			if _, err := tx.Exec(`INSERT INTO blobs VALUES (?)`, blob); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	full, _ := db.Stats(ctx)
	if full.DBBytes < 100<<20 {
		t.Fatalf("database of %d bytes after 100 MiB of rows", full.DBBytes)
	}
	if err := db.WriteSync(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`DELETE FROM blobs`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var st Stats
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, _ = db.Stats(ctx); st.DBBytes <= 40<<20 && st.FreelistCount*st.PageSize <= shrinkSlack+shrinkStep*st.PageSize {
			break
		}
	}
	if st.DBBytes > 40<<20 {
		t.Fatalf("database still %d bytes (%d of %d pages free) a minute after its rows were deleted", st.DBBytes, st.FreelistCount, st.PageCount)
	}
	// What is left free stays within the slack kept for reuse.
	if free := st.FreelistCount * st.PageSize; free > shrinkSlack+shrinkStep*st.PageSize {
		t.Fatalf("%d bytes still free", free)
	}
}

// A database made before incremental auto-vacuum switches to it at its
// next vacuum.
func TestVacuumSwitchesAutoVacuum(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fazt.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`PRAGMA application_id = ` + strconv.Itoa(ApplicationID)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db := openTest(t, path, Options{})
	if st, _ := db.Stats(ctx); st.AutoVacuum != 0 {
		t.Fatalf("old database's auto_vacuum = %d, want 0", st.AutoVacuum)
	}
	if err := db.Vacuum(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := db.Stats(ctx); st.AutoVacuum != autoVacuumIncremental {
		t.Fatalf("after vacuum auto_vacuum = %d", st.AutoVacuum)
	}
}
