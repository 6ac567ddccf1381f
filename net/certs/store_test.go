package certs

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/storage"
)

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fazt.db")
	db, err := storage.Open(context.Background(), p, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // a second Close is harmless
	return NewStore(db), p
}

// The store behaves as certmagic's Storage contract says: missing keys are
// fs.ErrNotExist, directories are implied by keys, deletes are recursive.
func TestStore(t *testing.T) {
	ctx := context.Background()
	s, p := openStore(t)
	if _, err := s.Load(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load missing: %v", err)
	}
	if _, err := s.Stat(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat missing: %v", err)
	}
	if _, err := s.List(ctx, "certificates", true); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("list empty: %v", err)
	}
	keys := []string{
		"certificates/ca/a.example.com/a.example.com.crt",
		"certificates/ca/a.example.com/a.example.com.key",
		"certificates/ca/b.example.com/b.example.com.crt",
		"certificates/ca0/x",  // a sibling whose name extends the prefix
		"certificatesX/other", // not under certificates/
	}
	for _, k := range keys {
		if err := s.Store(ctx, k, []byte("v:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Store(ctx, keys[0], []byte("new")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Load(ctx, keys[0]); err != nil || string(v) != "new" {
		t.Fatalf("load after overwrite: %q %v", v, err)
	}
	all, err := s.List(ctx, "certificates", true)
	if err != nil || !slices.Equal(all, keys[:4]) {
		t.Fatalf("recursive list: %v %v", all, err)
	}
	top, err := s.List(ctx, "certificates/ca/", false)
	if err != nil || !slices.Equal(top, []string{"certificates/ca/a.example.com", "certificates/ca/b.example.com"}) {
		t.Fatalf("list: %v %v", top, err)
	}
	if info, err := s.Stat(ctx, keys[0]); err != nil || !info.IsTerminal || info.Size != 3 || time.Since(info.Modified) > time.Minute {
		t.Fatalf("stat file: %+v %v", info, err)
	}
	if info, err := s.Stat(ctx, "certificates/ca"); err != nil || info.IsTerminal {
		t.Fatalf("stat dir: %+v %v", info, err)
	}
	if !s.Exists(ctx, "certificates/ca/a.example.com") || s.Exists(ctx, "certificates/c") {
		t.Fatal("exists")
	}
	if err := s.Delete(ctx, "certificates/ca"); err != nil {
		t.Fatal(err)
	}
	all, _ = s.List(ctx, "certificates", true)
	if !slices.Equal(all, []string{"certificates/ca0/x"}) {
		t.Fatalf("after a recursive delete: %v", all)
	}

	// Kept in the database file: a new open sees them.
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := storage.Open(ctx, p, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if v, err := NewStore(db2).Load(ctx, "certificatesX/other"); err != nil || string(v) != "v:certificatesX/other" {
		t.Fatalf("after reopening: %q %v", v, err)
	}
}

// Locks exclude, wake the next holder, and give up with the context.
func TestStoreLock(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	if err := s.Lock(ctx, "issue_cert_a"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.Lock(short, "issue_cert_a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a held lock was taken: %v", err)
	}
	if err := s.Lock(ctx, "issue_cert_b"); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- s.Lock(ctx, "issue_cert_a") }()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-got:
		t.Fatal("taken while held")
	default:
	}
	s.Unlock(ctx, "issue_cert_a")
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was not woken")
	}
}
