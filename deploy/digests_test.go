package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The digest cache is trusted only for a file whose inode, size, mtime and
// ctime are unchanged; a rewrite of the same size with its mtime put back
// still changes the ctime, and is read again.
func TestDigestCache(t *testing.T) {
	src, cache := t.TempDir(), t.TempDir()
	const bs = 4096
	for name, body := range map[string]string{"a.html": "aaaa", "b.html": "bbbb", "sub/c.css": "cccc"} {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := func() map[string]local {
		ls, err := scan(src)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]local{}
		for _, l := range ls {
			if l.mode.IsRegular() {
				out[l.rel] = l
			}
		}
		return out
	}
	want := func(rel string) []byte {
		var buf []byte
		d, err := digest(filepath.Join(src, rel), bs, &buf)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := files()
	d := loadDigests(src, cache)
	for rel, l := range first {
		if got, err := d.of(l, bs); err != nil || !bytes.Equal(got, want(rel)) {
			t.Fatalf("%s: %x %v", rel, got, err)
		}
	}
	d.save()

	// b.html rewritten, same size, its mtime put back.
	bp := filepath.Join(src, "b.html")
	fi, _ := os.Stat(bp)
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(bp, []byte("BBBB"), 0o644)
	os.Chtimes(bp, fi.ModTime(), fi.ModTime())
	second := files()
	if second["b.html"].stamp == first["b.html"].stamp {
		t.Fatal("a rewrite left the stamp as it was")
	}
	// a.html gone after the scan: its digest can only come from the cache.
	os.Remove(filepath.Join(src, "a.html"))
	d = loadDigests(src, cache)
	if got, err := d.of(second["a.html"], bs); err != nil || len(got) == 0 {
		t.Fatalf("unchanged file not taken from the cache: %x %v", got, err)
	}
	if got, _ := d.of(second["b.html"], bs); !bytes.Equal(got, want("b.html")) {
		t.Fatal("a rewritten file's digest came from the cache")
	}
	// Another block size: nothing cached applies.
	if _, err := d.of(second["a.html"], 2*bs); err == nil {
		t.Fatal("a digest of another block size came from the cache")
	}
	// Without a cache directory nothing is kept.
	d = loadDigests(src, "")
	if _, err := d.of(second["a.html"], bs); err == nil {
		t.Fatal("a cache without a directory")
	}
	d.save()
}

// What an upload records is what digest computes, and the next sync takes
// it without reading the file.
func TestDigestRecorded(t *testing.T) {
	src, cache := t.TempDir(), t.TempDir()
	const bs = 4096
	var buf []byte
	for _, n := range []int{0, 1, bs, bs + 1, 3 * bs} {
		p := filepath.Join(src, "f")
		data := bytes.Repeat([]byte{7}, n)
		os.WriteFile(p, data, 0o644)
		d, _ := digest(p, bs, &buf)
		if !bytes.Equal(digestBytes(data, bs), d) {
			t.Fatalf("%d bytes: digestBytes differs from digest", n)
		}
	}
	ls, err := scan(src)
	if err != nil || len(ls) != 1 {
		t.Fatal(ls, err)
	}
	data, _ := os.ReadFile(filepath.Join(src, "f"))
	d := loadDigests(src, cache)
	d.record("f", ls[0].stamp, bs, data)
	d.save()
	os.Remove(filepath.Join(src, "f"))
	got, err := loadDigests(src, cache).of(ls[0], bs)
	if err != nil || !bytes.Equal(got, digestBytes(data, bs)) {
		t.Fatalf("recorded digest not used: %x %v", got, err)
	}
}
