package httpd

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// The store keeps materialized forms of site files on the local disk, by
// content: a file too large for memory, as it is (served with sendfile, so
// the host's page cache holds it instead of the heap), and the gzip and
// brotli forms of compressible files (made once per content, not once per
// cache miss). It is a derived cache: the database holds every byte, the
// store can be deleted at any time and is rebuilt as files are asked for.
//
// Names are the hash of the content's ETag and the form ("….br"), so an
// entry never goes stale: changed content has another name. Each file is
// written to a temporary name, synced and renamed, so a crash or a power
// cut leaves it whole or absent; an empty file says the form is not worth
// having (compression saved less than a tenth). Two kernels on one data
// directory (an upgrade's handover) share it safely: they write the same
// bytes under the same names, and a file one of them evicts is a miss for
// the other.
const (
	storeBudget   = 1 << 30   // bytes of files kept
	storeHeadroom = 256 << 20 // disk space, beyond the database's reserve, the store never takes
	compressMax   = 64 << 20  // larger files always go out whole
	storeQueue    = 256       // contents waiting for their forms; more are asked again later
	storeQueueMem = 16 << 20  // bytes of content held by the contents waiting
)

// The forms' names in the store.
var formExt = [numForms]string{identity: "id", gzipped: "gz", brotlied: "br"}

// store is the on-disk cache of forms.
type store struct {
	dir  string
	room func(need int64) error // the database's: fails unless need bytes leave its reserve free
	log  *slog.Logger

	mu      sync.Mutex               // guards the fields below
	files   map[string]*list.Element // by name, of *storedFile
	lru     *list.List               // most recently used first
	bytes   int64
	pending map[string]bool // ETags queued or being made
	held    int64           // bytes of content data the pending jobs hold
	queue   chan job
	closed  bool

	// made is called with an ETag whose forms were just stored.
	made func(etag string)
	done sync.WaitGroup // the worker
	stop chan struct{}
}

type storedFile struct {
	name string
	size int64
}

// job is content whose missing forms are to be made.
type job struct {
	c        *kernel.Content
	identity bool // store it as it is
	compress bool // store its gzip and brotli forms
}

// openStore indexes dir (made if missing) and starts the worker that makes
// forms. Leftover temporary files older than a minute are removed (a
// younger one may be a handover partner's write in progress).
func openStore(dir string, room func(int64) error, log *slog.Logger, made func(string)) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	st := &store{dir: dir, room: room, log: log, made: made, files: map[string]*list.Element{}, lru: list.New(),
		pending: map[string]bool{}, queue: make(chan job, storeQueue), stop: make(chan struct{})}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type found struct {
		storedFile
		mtime time.Time
	}
	var all []found
	for _, de := range des {
		fi, err := de.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if strings.HasPrefix(de.Name(), "tmp-") {
			if time.Since(fi.ModTime()) > time.Minute {
				os.Remove(filepath.Join(dir, de.Name()))
			}
			continue
		}
		all = append(all, found{storedFile{de.Name(), fi.Size()}, fi.ModTime()})
	}
	// Most recent first, as the LRU keeps them.
	slices.SortFunc(all, func(a, b found) int { return b.mtime.Compare(a.mtime) })
	for _, f := range all {
		st.files[f.name] = st.lru.PushBack(&storedFile{f.name, f.size})
		st.bytes += f.size
	}
	st.mu.Lock()
	st.evictLocked(0)
	st.mu.Unlock()
	st.done.Add(1)
	go st.work()
	return st, nil
}

// close stops the worker once the form being made is done.
func (st *store) close() {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.closed = true
	close(st.stop)
	st.mu.Unlock()
	st.done.Wait()
}

// clear removes every stored file (the disk is short of space).
func (st *store) clear() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for st.lru.Len() > 0 {
		st.removeLocked(st.lru.Back())
	}
}

func storeName(etag string, form int) string {
	h := sha256.Sum256([]byte(etag))
	return hex.EncodeToString(h[:16]) + "." + formExt[form]
}

// lookup says whether etag's form is stored, and its size (0: the form is
// not worth having).
func (st *store) lookup(etag string, form int) (size int64, known bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	el, ok := st.files[storeName(etag, form)]
	if !ok {
		return 0, false
	}
	return el.Value.(*storedFile).size, true
}

// open opens etag's form, of the size lookup gave; false if it is gone or
// not whole (it is then forgotten, to be made again).
func (st *store) open(etag string, form int, size int64) (*os.File, bool) {
	name := storeName(etag, form)
	f, err := os.Open(filepath.Join(st.dir, name))
	if err == nil {
		if fi, err := f.Stat(); err == nil && fi.Size() == size {
			st.mu.Lock()
			if el, ok := st.files[name]; ok {
				st.lru.MoveToFront(el)
			}
			st.mu.Unlock()
			return f, true
		}
		f.Close()
	}
	st.forget(name)
	return nil, false
}

// read returns a stored form's bytes (small ones are kept in memory).
func (st *store) read(etag string, form int, size int64) ([]byte, bool) {
	f, ok := st.open(etag, form, size)
	if !ok {
		return nil, false
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		st.forget(storeName(etag, form))
		return nil, false
	}
	return b, true
}

func (st *store) forget(name string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if el, ok := st.files[name]; ok {
		st.removeLocked(el)
	}
}

// want queues the making of a content's missing forms; it is a no-op when
// they are queued already or the queue is full, in contents or in the
// bytes they hold (a later request asks again).
func (st *store) want(j job) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.pending[j.c.ETag] || st.held+int64(len(j.c.Data)) > storeQueueMem {
		return
	}
	select {
	case st.queue <- j:
		st.pending[j.c.ETag] = true
		st.held += int64(len(j.c.Data))
	default:
	}
}

// work makes the forms queued, one content at a time: the compression's
// CPU and memory are one compressor's, whatever the load.
func (st *store) work() {
	defer st.done.Done()
	for {
		select {
		case <-st.stop:
			return
		case j := <-st.queue:
			err := st.make(j)
			st.mu.Lock()
			delete(st.pending, j.c.ETag)
			st.held -= int64(len(j.c.Data))
			st.mu.Unlock()
			if err != nil {
				// The file changed under it, or the disk is short:
				// served from the database meanwhile, asked again later.
				st.log.Debug("http: cannot store a form", "etag", j.c.ETag, "err", err)
				continue
			}
			if st.made != nil {
				st.made(j.c.ETag)
			}
		}
	}
}

// make writes j's forms in one pass over the content.
func (st *store) make(j job) error {
	size := j.c.Attr.Size
	// At most: the content, and two forms each smaller than it.
	need := int64(0)
	if j.identity {
		need += size
	}
	if j.compress {
		need += 2 * size
	}
	if need > storeBudget/4 {
		return kernel.E(kernel.TooLarge, "too large for the store")
	}
	if err := st.room(need + storeHeadroom); err != nil {
		if kernel.KindOf(err) == kernel.NoSpace {
			st.clear()
		}
		return err
	}
	st.mu.Lock()
	st.evictLocked(need)
	st.mu.Unlock()

	var outs []*tmpForm
	defer func() {
		for _, o := range outs {
			o.discard()
		}
	}()
	var ws []io.Writer
	add := func(form int) (*tmpForm, error) {
		o, err := st.createTmp(j.c.ETag, form)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
		return o, nil
	}
	if j.identity {
		o, err := add(identity)
		if err != nil {
			return err
		}
		ws = append(ws, o.f)
	}
	var closers []io.Closer
	if j.compress {
		gz, err := add(gzipped)
		if err != nil {
			return err
		}
		br, err := add(brotlied)
		if err != nil {
			return err
		}
		zw, bw := encoders(gz.f, br.f, size)
		ws = append(ws, zw, bw)
		closers = append(closers, zw, bw)
	}
	var src io.Reader
	if j.c.Data != nil {
		src = bytes.NewReader(j.c.Data)
	} else {
		src = io.NewSectionReader(j.c.Reader, 0, size)
	}
	src = stoppable{src, st.stop}
	if n, err := io.Copy(io.MultiWriter(ws...), src); err != nil {
		return err
	} else if n != size {
		return kernel.E(kernel.Internal, "the content changed size while stored")
	}
	for _, c := range closers {
		if err := c.Close(); err != nil {
			return err
		}
	}
	for _, o := range outs {
		if err := o.commit(size); err != nil {
			return err
		}
		st.mu.Lock()
		if el, ok := st.files[o.name]; ok {
			st.removeLocked(el)
		}
		st.files[o.name] = st.lru.PushFront(&storedFile{o.name, o.size})
		st.bytes += o.size
		st.mu.Unlock()
	}
	outs = nil
	return nil
}

// stoppable is a reader that fails once the store is closing: Close does
// not wait for a large file's compression to finish.
type stoppable struct {
	r    io.Reader
	stop chan struct{}
}

func (s stoppable) Read(p []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, kernel.E(kernel.Unavailable, "the store is closing")
	default:
	}
	return s.r.Read(p)
}

// tmpForm is a form being written.
type tmpForm struct {
	st   *store
	f    *os.File
	name string // its name once whole
	form int
	size int64
}

func (st *store) createTmp(etag string, form int) (*tmpForm, error) {
	f, err := os.CreateTemp(st.dir, "tmp-")
	if errors.Is(err, os.ErrNotExist) { // removed by hand: it is derived
		if err = os.MkdirAll(st.dir, 0o700); err == nil {
			f, err = os.CreateTemp(st.dir, "tmp-")
		}
	}
	if err != nil {
		return nil, err
	}
	return &tmpForm{st: st, f: f, name: storeName(etag, form), form: form}, nil
}

// commit syncs the form and gives it its name; an encoded form that saves
// less than a tenth of size is kept empty (not worth having).
func (o *tmpForm) commit(size int64) error {
	fi, err := o.f.Stat()
	if err != nil {
		return err
	}
	o.size = fi.Size()
	if o.form != identity && o.size >= size*9/10 {
		if err := o.f.Truncate(0); err != nil {
			return err
		}
		o.size = 0
	}
	if err := o.f.Sync(); err != nil {
		return err
	}
	if err := o.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(o.f.Name(), filepath.Join(o.st.dir, o.name)); err != nil {
		os.Remove(o.f.Name())
		return err
	}
	o.f = nil
	return nil
}

func (o *tmpForm) discard() {
	if o.f != nil {
		o.f.Close()
		os.Remove(o.f.Name())
	}
}

// evictLocked removes the least recently used files until need more bytes
// fit in the budget.
func (st *store) evictLocked(need int64) {
	for st.bytes+need > storeBudget && st.lru.Len() > 0 {
		st.removeLocked(st.lru.Back())
	}
}

func (st *store) removeLocked(el *list.Element) {
	f := el.Value.(*storedFile)
	st.lru.Remove(el)
	delete(st.files, f.name)
	st.bytes -= f.size
	if err := os.Remove(filepath.Join(st.dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		st.log.Warn("http: cannot remove a stored form", "name", f.name, "err", err)
	}
}

// usage returns the files and bytes stored, and the contents whose forms
// are queued or being made.
func (st *store) usage() (int, int64, int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.lru.Len(), st.bytes, len(st.pending)
}
