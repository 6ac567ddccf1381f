package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

// fileState is a closed database file's bytes: a primary's state, as the
// pages a follower is sent.
func fileState(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// delta is what a replicated transaction carries from state prev to cur:
// the pages that differ, and the size.
func delta(prev, cur []byte, pageSize int) ([]Page, uint32) {
	var pages []Page
	for off := 0; off < len(cur); off += pageSize {
		p := cur[off : off+pageSize]
		if off+pageSize <= len(prev) && bytes.Equal(prev[off:off+pageSize], p) {
			continue
		}
		pages = append(pages, Page{No: uint32(off/pageSize) + 1, Data: p})
	}
	return pages, uint32(len(cur) / pageSize)
}

func pageIter(pages []Page) func() (Page, bool, error) {
	i := 0
	return func() (Page, bool, error) {
		if i == len(pages) {
			return Page{}, false, nil
		}
		i++
		return pages[i-1], true, nil
	}
}

func countRows(t *testing.T, db *DB) (n int, sum int64) {
	t.Helper()
	if err := db.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(v), 0) FROM t`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	return n, sum
}

// A follower applies the primary's transactions as page images: growing,
// shrinking, each whole under a reader that holds its snapshot, and a bad
// page refused with nothing changed.
func TestApplyPages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pPath, fPath := filepath.Join(dir, "primary.db"), filepath.Join(dir, "follower.db")
	primary := func(q ...string) []byte {
		t.Helper()
		db, err := Open(ctx, pPath, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range q {
			if s == "VACUUM" {
				err = db.Vacuum(ctx)
			} else {
				err = db.WriteSync(ctx, func(tx *Tx) error { return tx.ExecScript(s) })
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil { // checkpointed: the file holds it all
			t.Fatal(err)
		}
		return fileState(t, pPath)
	}
	s0 := primary(`CREATE TABLE t (v INTEGER, pad BLOB)`, `INSERT INTO t VALUES (1, zeroblob(100))`)
	if err := os.WriteFile(fPath, s0, 0o644); err != nil {
		t.Fatal(err)
	}
	const replica = "file:///var/backups/primary"
	f := openTest(t, fPath, Options{Follows: replica})
	if err := f.HasPageWrites(ctx); err != nil {
		t.Fatal(err)
	}
	var pageSize int
	f.QueryRow(ctx, `PRAGMA page_size`).Scan(&pageSize)

	// Growth: 2,000 rows of 1 KiB, under a reader in a transaction.
	s1 := primary(`WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 2001)
		INSERT INTO t SELECT i, randomblob(1024) FROM n`)
	pages, size := delta(s0, s1, pageSize)
	inside := make(chan int, 2)
	applied := make(chan struct{})
	go func() {
		f.Read(ctx, func(tx *Tx) error {
			var n int
			tx.QueryRow(`SELECT count(*) FROM t`).Scan(&n)
			inside <- n
			<-applied
			tx.QueryRow(`SELECT count(*) FROM t`).Scan(&n)
			inside <- n
			return nil
		})
	}()
	if n := <-inside; n != 1 {
		t.Fatalf("before: %d rows", n)
	}
	if err := f.ApplyPages(ctx, size, pageIter(pages)); err != nil {
		t.Fatal(err)
	}
	close(applied)
	if n := <-inside; n != 1 {
		t.Fatalf("a reader's snapshot saw %d rows of a transaction applied under it", n)
	}
	if n, sum := countRows(t, f); n != 2001 || sum != 2001*2002/2 {
		t.Fatalf("after growth: %d rows, sum %d", n, sum)
	}

	// Shrinking: most rows deleted and the file vacuumed smaller.
	s2 := primary(`DELETE FROM t WHERE v > 10`, `VACUUM`)
	if len(s2) >= len(s1) {
		t.Fatalf("the primary did not shrink: %d -> %d bytes", len(s1), len(s2))
	}
	pages, size = delta(s1, s2, pageSize)
	if err := f.ApplyPages(ctx, size, pageIter(pages)); err != nil {
		t.Fatal(err)
	}
	var count uint32
	var check string
	f.QueryRow(ctx, `PRAGMA page_count`).Scan(&count)
	f.QueryRow(ctx, `PRAGMA integrity_check`).Scan(&check)
	if n, sum := countRows(t, f); n != 10 || sum != 55 || count != size || check != "ok" {
		t.Fatalf("after shrinking: %d rows, sum %d, %d pages (want %d), integrity %q", n, sum, count, size, check)
	}
	// The file gives the space back once checkpointed (the header's page
	// count alone would hide pages left past the end).
	if err := f.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fPath); err != nil || fi.Size() != int64(size)*int64(pageSize) {
		t.Fatalf("after shrinking and a checkpoint the file is %d bytes, want %d (%v)", fi.Size(), int64(size)*int64(pageSize), err)
	}
	// Byte for byte the primary's but the header's change counter and
	// the version it is valid for, which SQLite sets on every commit of
	// page 1: the follower wrote nothing of its own (no counter row, no
	// vacuum step).
	got, want := fileState(t, fPath), append([]byte{}, s2...)
	for _, b := range [][]byte{got, want} {
		if len(b) >= 100 {
			clear(b[24:28])
			clear(b[92:100])
		}
	}
	if !bytes.Equal(got, want) {
		for off := 0; off < len(got) && off < len(want); off++ {
			if got[off] != want[off] {
				t.Logf("first difference at byte %d (page %d)", off, off/pageSize+1)
				break
			}
		}
		t.Fatal("the follower's file differs from the primary's")
	}

	// Every other write is refused, naming the primary's replica.
	for name, err := range map[string]error{
		"write":  f.Write(ctx, func(tx *Tx) error { _, err := tx.Exec(`INSERT INTO t VALUES (7, NULL)`); return err }),
		"sync":   f.WriteSync(ctx, func(tx *Tx) error { return nil }),
		"delete": f.WriteFreeing(ctx, func(tx *Tx) error { return nil }),
		"vacuum": f.Vacuum(ctx),
	} {
		if kernel.KindOf(err) != kernel.NotPrimary || !strings.Contains(err.Error(), replica) {
			t.Errorf("%s on a follower: %v", name, err)
		}
	}

	// Bad transactions change nothing.
	s3 := primary(`INSERT INTO t VALUES (100, NULL)`)
	pages, size = delta(s2, s3, pageSize)
	short := append([]Page{}, pages...)
	short[len(short)-1].Data = short[len(short)-1].Data[:100]
	for name, bad := range map[string]struct {
		pages []Page
		size  uint32
		kind  kernel.Kind
	}{
		"a short page":         {short, size, kernel.Internal},
		"a page past the size": {append(append([]Page{}, pages...), Page{No: size + 1, Data: make([]byte, pageSize)}), size, kernel.Invalid},
		"no page 0":            {[]Page{{No: 0, Data: make([]byte, pageSize)}}, size, kernel.Invalid},
	} {
		err := f.ApplyPages(ctx, bad.size, pageIter(bad.pages))
		if err == nil || (bad.kind != kernel.Internal && kernel.KindOf(err) != bad.kind) {
			t.Errorf("%s: %v, want kind %v", name, err, bad.kind)
		}
		if n, sum := countRows(t, f); n != 10 || sum != 55 {
			t.Fatalf("%s changed the database: %d rows, sum %d", name, n, sum)
		}
	}
	if err := f.ApplyPages(ctx, size, pageIter(pages)); err != nil {
		t.Fatal(err)
	}
	if n, sum := countRows(t, f); n != 11 || sum != 155 {
		t.Fatalf("after the good one: %d rows, sum %d", n, sum)
	}

	// And it holds across a reopen; promoted, it takes writes.
	f.Close()
	f = openTest(t, fPath, Options{Follows: replica})
	f.QueryRow(ctx, `PRAGMA integrity_check`).Scan(&check)
	if n, _ := countRows(t, f); n != 11 || check != "ok" {
		t.Fatal(fmt.Sprintf("after a reopen: %d rows, integrity %q", n, check))
	}
	f.Promote()
	if err := f.WriteCommitted(ctx, func(tx *Tx) error { _, err := tx.Exec(`INSERT INTO t VALUES (7, NULL)`); return err }); err != nil {
		t.Fatal(err)
	}
	if n, _ := countRows(t, f); n != 12 || f.Follows() != "" {
		t.Fatalf("promoted: %d rows, follows %q", n, f.Follows())
	}

	// Deposed (another machine took the replica's lease), it refuses
	// writes with the reason given and keeps what it has.
	f.Depose(replica, "lost the lease to b")
	err := f.WriteCommitted(ctx, func(tx *Tx) error { _, err := tx.Exec(`INSERT INTO t VALUES (8, NULL)`); return err })
	if kernel.KindOf(err) != kernel.NotPrimary || !strings.Contains(err.Error(), "lost the lease to b") || f.Follows() != replica {
		t.Fatalf("deposed: %v, follows %q", err, f.Follows())
	}
	if n, _ := countRows(t, f); n != 12 {
		t.Fatalf("a refused write changed the database: %d rows", n)
	}
}

// A follower is never migrated: one whose database lacks a migration this
// binary needs is refused, and the file is left as it was.
func TestFollowerNeedsTheSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fazt.db")
	db := openTest(t, path, Options{})
	db.Close()
	before := fileState(t, path)
	newer := mapMigrations(map[string]string{"9000_newer.sql": "CREATE TABLE newer (x INTEGER);"})
	_, err := Open(ctx, path, Options{Follows: "file:///var/backups/p", Migrations: newer})
	if kernel.KindOf(err) != kernel.NotSupported || !strings.Contains(err.Error(), "9000_newer.sql") || !strings.Contains(err.Error(), "upgrade the primary first") {
		t.Fatalf("a follower short of a migration: %v", err)
	}
	if !bytes.Equal(fileState(t, path), before) {
		t.Fatal("the refused open changed the database")
	}
	// The same schema is fine.
	f := openTest(t, path, Options{Follows: "file:///var/backups/p"})
	if f.Follows() != "file:///var/backups/p" {
		t.Fatalf("follows %q", f.Follows())
	}
}

// Reads on the writer connection, whose statements are cached, see each
// applied transaction: pages written through that same connection left a
// statement it had run before reading the database as malformed.
func TestApplyPagesUnderTheWritersStatements(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pPath, fPath := filepath.Join(dir, "primary.db"), filepath.Join(dir, "follower.db")
	p := openTest(t, pPath, Options{})
	if err := p.WriteSync(ctx, func(tx *Tx) error {
		return tx.ExecScript(`CREATE TABLE t (v INTEGER, pad BLOB); INSERT INTO t VALUES (1, zeroblob(100))`)
	}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	s0 := fileState(t, pPath)
	if err := os.WriteFile(fPath, s0, 0o644); err != nil {
		t.Fatal(err)
	}
	f := openTest(t, fPath, Options{Follows: "file:///var/backups/primary"})
	var pageSize int
	f.QueryRow(ctx, `PRAGMA page_size`).Scan(&pageSize)
	viewCount := func() (int, error) {
		var n int
		err := f.View(ctx, func(tx *Tx) error { return tx.QueryRow(`SELECT count(*) FROM t`).Scan(&n) })
		return n, err
	}
	if n, err := viewCount(); err != nil || n != 1 {
		t.Fatalf("before: %d rows, %v", n, err)
	}
	prev := s0
	for round := 1; round <= 3; round++ {
		p := openTest(t, pPath, Options{})
		if err := p.WriteSync(ctx, func(tx *Tx) error {
			return tx.ExecScript(fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
				INSERT INTO t SELECT %d, randomblob(1024) FROM n`, round))
		}); err != nil {
			t.Fatal(err)
		}
		p.Close()
		cur := fileState(t, pPath)
		pages, size := delta(prev, cur, pageSize)
		prev = cur
		if err := f.ApplyPages(ctx, size, pageIter(pages)); err != nil {
			t.Fatal(err)
		}
		if n, err := viewCount(); err != nil || n != 1+500*round {
			t.Fatalf("round %d: the writer's statement counts %d rows, %v; want %d", round, n, err, 1+500*round)
		}
	}
}
