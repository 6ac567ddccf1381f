package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// The machine's settings: kept in their own file across a reopen, with
// their times; the database answers for keys the file lacks, except a
// follower's (the primary's listeners are not this machine's); a damaged
// file is refused with a clear error.
func TestLocalSettings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t, filepath.Join(dir, "fazt.db"), Options{})
	if err := db.PutSetting(ctx, "net.http", ":8080"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, LocalFile)
	l, err := OpenLocal(path, db)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := l.Setting(ctx, "net.http", ":80"); v != ":8080" {
		t.Fatalf("a key the file lacks reads %q, want the database's", v)
	}
	if v, _ := l.Setting(ctx, "net.https", ":443"); v != ":443" {
		t.Fatalf("a key nobody has reads %q", v)
	}
	if err := l.PutSetting(ctx, "net.http", "127.0.0.1:9090"); err != nil {
		t.Fatal(err)
	}
	at, _ := l.SettingTime(ctx, "net.http")
	if v, _ := db.Setting(ctx, "net.http", ""); v != ":8080" {
		t.Fatalf("the machine's setting reached the database: %q", v)
	}
	time.Sleep(2 * time.Millisecond)
	if err := l.PutSetting(ctx, "net.http", "127.0.0.1:9090"); err != nil {
		t.Fatal(err)
	}
	if again, _ := l.SettingTime(ctx, "net.http"); !again.Equal(at) || at.IsZero() {
		t.Fatalf("saving the same value moved its time: %v -> %v", at, again)
	}
	l2, err := OpenLocal(path, db)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := l2.Setting(ctx, "net.http", ""); v != "127.0.0.1:9090" {
		t.Fatalf("after a reopen: %q", v)
	}
	if t2, _ := l2.SettingTime(ctx, "net.http"); !t2.Equal(at) {
		t.Fatalf("time after a reopen: %v, want %v", t2, at)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatal(err)
	}

	// A follower's database answers for nothing.
	db.Close()
	f := openTest(t, filepath.Join(dir, "fazt.db"), Options{Follows: "file:///var/backups/p"})
	lf, err := OpenLocal(filepath.Join(dir, "other.json"), f)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lf.Setting(ctx, "net.http", ":80"); v != ":80" {
		t.Fatalf("a follower took the primary's listener: %q", v)
	}
	if err := lf.PutSetting(ctx, "net.http", ":8181"); err != nil {
		t.Fatalf("a follower cannot set its own listener: %v", err)
	}

	os.WriteFile(path, []byte("{not json"), 0o644)
	if _, err := OpenLocal(path, nil); kernel.KindOf(err) != kernel.Invalid {
		t.Fatalf("a damaged file: %v", err)
	}
}
