package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// digests are the digests of a source's files: computed at most once a
// sync, and kept from sync to sync in a cache file (Options.CacheDir) with
// what identifies a file's content on the local disk: its inode, size,
// mtime and ctime. Every write changes the ctime, which cannot be set
// back, so a file with the same four has the same content (git's index
// trusts the same). A deploy ten times a day then reads only what changed,
// as rsync's quick check does, and still compares content.
type digests struct {
	src  string
	file string // the cache file; "" keeps nothing

	mu  sync.Mutex        // guards the fields below: uploads record digests as they go
	bs  int64             // the block size the cached digests are of
	old map[string]cached // read from the file
	run map[string]cached // computed or confirmed in this sync
	buf []byte
}

// stamp identifies a file's content on the local disk.
type stamp struct {
	Ino, Size, Mtime, Ctime int64
}

type cached struct {
	Stamp  stamp
	Digest []byte
}

// cacheFile is what the cache of a source is kept in.
type cacheFile struct {
	BlockSize int64
	Files     map[string]cached
}

func stampOf(fi fs.FileInfo) stamp {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return stamp{} // never matches: a zero stamp is not cached
	}
	return stamp{Ino: int64(st.Ino), Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
}

// loadDigests reads the cache of src in dir ("": none). A cache that
// cannot be read is no cache.
func loadDigests(src, dir string) *digests {
	d := &digests{src: src, run: map[string]cached{}}
	if dir == "" {
		return d
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return d
	}
	sum := sha256.Sum256([]byte(abs))
	d.file = filepath.Join(dir, "deploy-digests-"+hex.EncodeToString(sum[:8])+".json")
	var cf cacheFile
	if b, err := os.ReadFile(d.file); err == nil && json.Unmarshal(b, &cf) == nil {
		d.bs, d.old = cf.BlockSize, cf.Files
	}
	return d
}

// of returns the digest of the local file l with blocks of bs bytes.
func (d *digests) of(l local, bs int64) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.run[l.rel]; ok && d.bs == bs {
		return c.Digest, nil
	}
	if d.bs != bs { // another block size: nothing cached applies
		d.bs, d.old, d.run = bs, nil, map[string]cached{}
	}
	if c, ok := d.old[l.rel]; ok && c.Stamp == l.stamp && l.stamp != (stamp{}) {
		d.run[l.rel] = c
		return c.Digest, nil
	}
	v, err := digest(filepath.Join(d.src, l.rel), bs, &d.buf)
	if err != nil {
		return nil, err
	}
	d.run[l.rel] = cached{Stamp: l.stamp, Digest: v}
	return v, nil
}

// record keeps the digest of data, read from the local file rel (of
// stamp st) to be sent: the next sync need not read it again.
func (d *digests) record(rel string, st stamp, bs int64, data []byte) {
	if d.file == "" || st == (stamp{}) {
		return
	}
	v := digestBytes(data, bs)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bs == bs || d.bs == 0 {
		d.bs = bs
		d.run[rel] = cached{Stamp: st, Digest: v}
	}
}

// digestBytes is digest over data in memory.
func digestBytes(data []byte, bs int64) []byte {
	all := sha256.New()
	for off := int64(0); off < int64(len(data)); off += bs {
		s := sha256.Sum256(data[off:min(off+bs, int64(len(data)))])
		all.Write(s[:])
	}
	return all.Sum(nil)
}

// save writes the digests of this sync to the cache file (those of files
// it did not look at, and of files gone, are dropped), atomically: two
// syncs of one source may run at once. Errors are ignored: it is a cache.
func (d *digests) save() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.file == "" || len(d.run) == 0 {
		return
	}
	keep := map[string]cached{}
	for rel, c := range d.run {
		if c.Stamp != (stamp{}) {
			keep[rel] = c
		}
	}
	b, err := json.Marshal(cacheFile{BlockSize: d.bs, Files: keep})
	if err != nil || os.MkdirAll(filepath.Dir(d.file), 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.file), ".deploy-digests-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), d.file) != nil {
		os.Remove(tmp.Name())
	}
}
