package route

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/fazt-sh/fazt/storage"
)

// A route acknowledged is committed: another connection to the file (what
// a kernel started after this one was killed would read) sees it at once,
// without waiting for the batch to commit by itself.
func TestRouteCommittedWhenAcknowledged(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "fazt.db")
	db, err := storage.Open(ctx, p, storage.Options{CommitDelay: 60_000_000_000}) // a minute: only an explicit commit commits
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tbl := NewTable(db, nil)
	other, err := sql.Open("sqlite3", "file:"+p+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	count := func() int {
		var n int
		if err := other.QueryRow(`SELECT count(*) FROM routes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := tbl.Set(ctx, "blog.example.com", "blog"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("after Set: %d routes committed", n)
	}
	if err := tbl.Remove(ctx, "blog.example.com"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("after Remove: %d routes committed", n)
	}
	if err := db.PutSetting(ctx, "x", "y"); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := other.QueryRow(`SELECT value FROM fazt_meta WHERE key = 'setting.x'`).Scan(&v); err != nil || v != "y" {
		t.Fatalf("setting: %q %v", v, err)
	}
}
