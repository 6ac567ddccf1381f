package vfs

import (
	"bytes"
	"crypto/sha256"
	"math/rand"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

// clientDigest is what a client computes over a file's bytes.
func clientDigest(data []byte, bs int) []byte {
	all := sha256.New()
	for off := 0; off < len(data); off += bs {
		s := sha256.Sum256(data[off:min(off+bs, len(data))])
		all.Write(s[:])
	}
	return all.Sum(nil)
}

func TestCloneAndDigest(t *testing.T) {
	e := newEnv(t, Options{})
	fs := e.k.FS
	bs := int(e.fs.BlockSize())
	rng := rand.New(rand.NewSource(1))
	big := make([]byte, 3*bs+123)
	rng.Read(big)
	copy(big[bs:2*bs], make([]byte, bs)) // a zero block: a hole
	if err := fs.MkdirAll(e.ctx, "/fs/site/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("/fs/site/index.html", []byte("v1\n"))
	e.write("/fs/site/sub/big.bin", big)
	e.write("/fs/site/empty", nil)
	if err := fs.Symlink(e.ctx, "index.html", "/fs/site/link"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Link(e.ctx, "/fs/site/index.html", "/fs/site/sub/hard"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Clone(e.ctx, "/fs/site", "/fs/copy"); err != nil {
		t.Fatal(err)
	}
	if got := e.read("/fs/copy/sub/big.bin"); !bytes.Equal(got, big) {
		t.Fatal("cloned content differs")
	}
	if tgt, _ := fs.Readlink(e.ctx, "/fs/copy/link"); tgt != "index.html" {
		t.Fatalf("link %q", tgt)
	}
	a1, _ := fs.Lstat(e.ctx, "/fs/copy/index.html")
	a2, _ := fs.Lstat(e.ctx, "/fs/copy/sub/hard")
	o, _ := fs.Lstat(e.ctx, "/fs/site/index.html")
	if a1.Ino != a2.Ino || a1.Nlink != 2 || a1.Ino == o.Ino || o.Nlink != 2 {
		t.Fatalf("hard links: %+v %+v %+v", a1, a2, o)
	}
	// The copy is independent: writes to one leave the other.
	e.write("/fs/copy/index.html", []byte("v2\n"))
	if got := string(e.read("/fs/site/index.html")); got != "v1\n" {
		t.Fatalf("original changed: %q", got)
	}
	if got := string(e.read("/fs/copy/sub/hard")); got != "v2\n" {
		t.Fatalf("the clone's hard link: %q", got)
	}
	// Removing the original keeps the clone's content (chunk references).
	if err := fs.RemoveAll(e.ctx, "/fs/site"); err != nil {
		t.Fatal(err)
	}
	if got := e.read("/fs/copy/sub/big.bin"); !bytes.Equal(got, big) {
		t.Fatal("clone lost content when the original went")
	}
	wantKind(t, fs.Clone(e.ctx, "/fs/copy", "/fs/copy/sub/inner"), kernel.Invalid)
	wantKind(t, fs.Clone(e.ctx, "/fs/copy", "/fs/copy"), kernel.Exist)
	wantKind(t, fs.Clone(e.ctx, "/fs/nothing", "/fs/x"), kernel.NotExist)

	// Digests: as a client computes them, equal for equal content.
	for p, data := range map[string][]byte{"/fs/copy/sub/big.bin": big, "/fs/copy/empty": nil, "/fs/copy/index.html": []byte("v2\n")} {
		d, err := fs.Digest(e.ctx, p)
		if err != nil || !bytes.Equal(d, clientDigest(data, bs)) {
			t.Fatalf("digest of %s: %x %v, want %x", p, d, err, clientDigest(data, bs))
		}
	}
	// A file extended by truncate: its last chunk is shorter than its block.
	e.write("/fs/copy/grown", []byte("abc"))
	if err := fs.Truncate(e.ctx, "/fs/copy/grown", 10); err != nil {
		t.Fatal(err)
	}
	if d, _ := fs.Digest(e.ctx, "/fs/copy/grown"); !bytes.Equal(d, clientDigest([]byte("abc\x00\x00\x00\x00\x00\x00\x00"), bs)) {
		t.Fatal("digest of a grown file")
	}
	_, err := fs.Digest(e.ctx, "/fs/copy/sub")
	wantKind(t, err, kernel.Invalid)
	// The manifest of the tree agrees with the digests one by one.
	m, err := fs.Manifest(e.ctx, "/fs/copy")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, me := range m {
		paths = append(paths, me.Path)
		if me.Mode&0o170000 != 0o100000 {
			continue
		}
		d, _ := fs.Digest(e.ctx, "/fs/copy/"+me.Path)
		if !bytes.Equal(d, me.Digest) {
			t.Fatalf("manifest digest of %s differs", me.Path)
		}
	}
	if got := strings.Join(paths, " "); got != "empty grown index.html link sub sub/big.bin sub/hard" {
		t.Fatalf("manifest paths: %s", got)
	}
	// Entries of the top named in skip are left out with what is below.
	m, err = fs.Manifest(e.ctx, "/fs/copy", "sub", "link", "none")
	if err != nil {
		t.Fatal(err)
	}
	paths = paths[:0]
	for _, me := range m {
		paths = append(paths, me.Path)
	}
	if got := strings.Join(paths, " "); got != "empty grown index.html" {
		t.Fatalf("manifest paths, skipping sub and link: %s", got)
	}
	e.db.Commit(e.ctx)
	if n := e.count(`SELECT count(*) FROM chunks c WHERE refs != (SELECT count(*) FROM blocks b WHERE b.chunk = c.id)`); n != 0 {
		t.Fatalf("%d chunks with wrong refs", n)
	}
}
