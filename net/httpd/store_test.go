package httpd

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/fazt-sh/fazt/kernel"
)

func testStore(t *testing.T, dir string, room func(int64) error) (*store, chan string) {
	t.Helper()
	made := make(chan string, 16)
	st, err := openStore(dir, room, slog.New(slog.NewTextHandler(io.Discard, nil)), func(etag string) { made <- etag })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	return st, made
}

func roomy(int64) error { return nil }

func content(etag string, data []byte) *kernel.Content {
	c := &kernel.Content{ETag: etag, Attr: kernel.Attr{Size: int64(len(data))}}
	c.Reader = bytes.NewReader(data)
	return c
}

func waitMade(t *testing.T, made chan string, etag string) {
	t.Helper()
	select {
	case got := <-made:
		if got != etag {
			t.Fatalf("made %s, want %s", got, etag)
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s not made within a minute", etag)
	}
}

// The forms made are whole and decode to the content; an incompressible
// content's encoded forms are kept empty (not worth having).
func TestStoreMakesForms(t *testing.T) {
	st, made := testStore(t, t.TempDir(), roomy)
	text := []byte(strings.Repeat("<p>a page of a manual</p>\n", 40000))
	st.want(job{c: content(`"text"`, text), identity: true, compress: true})
	waitMade(t, made, `"text"`)
	for form, decode := range map[int]func(io.Reader) io.Reader{
		identity: func(r io.Reader) io.Reader { return r },
		gzipped:  func(r io.Reader) io.Reader { zr, _ := gzip.NewReader(r); return zr },
		brotlied: func(r io.Reader) io.Reader { return brotli.NewReader(r) },
	} {
		size, ok := st.lookup(`"text"`, form)
		if !ok || size == 0 || form != identity && size > int64(len(text))/10 {
			t.Fatalf("form %d: %d bytes, known %v", form, size, ok)
		}
		f, ok := st.open(`"text"`, form, size)
		if !ok {
			t.Fatalf("form %d does not open", form)
		}
		got, err := io.ReadAll(decode(f))
		f.Close()
		if err != nil || !bytes.Equal(got, text) {
			t.Fatalf("form %d decodes to %d bytes (%v), want the content", form, len(got), err)
		}
	}

	noise := make([]byte, 200<<10)
	rand.New(rand.NewSource(1)).Read(noise)
	st.want(job{c: content(`"noise"`, noise), compress: true})
	waitMade(t, made, `"noise"`)
	for _, form := range []int{gzipped, brotlied} {
		if size, ok := st.lookup(`"noise"`, form); !ok || size != 0 {
			t.Fatalf("incompressible form %d: %d bytes, known %v; want known and empty", form, size, ok)
		}
	}
}

// What a crash or an outside hand leaves is never served: a form of the
// wrong size is forgotten at open, leftover temporary files are removed
// when the store opens again, and a store reopened knows what it holds.
func TestStoreSurvivesDamage(t *testing.T) {
	dir := t.TempDir()
	st, made := testStore(t, dir, roomy)
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	st.want(job{c: content(`"a"`, data), identity: true})
	waitMade(t, made, `"a"`)
	size, ok := st.lookup(`"a"`, identity)
	if !ok || size != int64(len(data)) {
		t.Fatalf("stored %d bytes (%v)", size, ok)
	}
	st.close()

	old := filepath.Join(dir, "tmp-1234")
	young := filepath.Join(dir, "tmp-5678")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("half a file"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	st2, _ := testStore(t, dir, roomy)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("an old temporary file survived: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Fatalf("a young temporary file (a partner's write in progress) was removed: %v", err)
	}
	if size, ok := st2.lookup(`"a"`, identity); !ok || size != int64(len(data)) {
		t.Fatalf("reopened: %d bytes (%v)", size, ok)
	}
	if err := os.Truncate(filepath.Join(dir, storeName(`"a"`, identity)), 100); err != nil {
		t.Fatal(err)
	}
	if f, ok := st2.open(`"a"`, identity, size); ok {
		f.Close()
		t.Fatal("a truncated form opened")
	}
	if _, ok := st2.lookup(`"a"`, identity); ok {
		t.Fatal("a truncated form is still known")
	}
}

// Without room beyond the database's reserve the store writes nothing and
// gives back what it holds.
func TestStoreGivesWayToTheDatabase(t *testing.T) {
	dir := t.TempDir()
	var short atomic.Bool
	st, made := testStore(t, dir, func(int64) error {
		if short.Load() {
			return kernel.E(kernel.NoSpace, "no space left on device")
		}
		return nil
	})
	data := bytes.Repeat([]byte("x"), 100<<10)
	st.want(job{c: content(`"a"`, data), identity: true})
	waitMade(t, made, `"a"`)
	short.Store(true)
	st.want(job{c: content(`"b"`, data), identity: true})
	deadline := time.Now().Add(time.Minute)
	for {
		files, _, queued := st.usage()
		if files == 0 && queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("short of space: %d files still stored, %d queued", files, queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 0 {
		t.Fatalf("short of space, the store's directory keeps %d files", len(des))
	}
}
