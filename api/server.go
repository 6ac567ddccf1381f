package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// Attr is a file's attributes as the API sends them.
type Attr struct {
	Name  string    `json:"name"`
	Ino   uint64    `json:"ino"`
	Mode  uint32    `json:"mode"` // type bits and permission bits, as st_mode
	Nlink uint32    `json:"nlink"`
	UID   uint32    `json:"uid"`
	GID   uint32    `json:"gid"`
	Size  int64     `json:"size"`
	Mtime time.Time `json:"mtime"`
}

func toAttr(name string, a kernel.Attr) Attr {
	return Attr{Name: name, Ino: a.Ino, Mode: a.Mode, Nlink: a.Nlink, UID: a.UID, GID: a.GID, Size: a.Size, Mtime: a.Mtime}
}

// errorBody is the JSON of an error.
type errorBody struct {
	Kind  string `json:"kind"`
	Op    string `json:"op,omitempty"`
	Path  string `json:"path,omitempty"`
	Error string `json:"error"`
}

// Handler serves k's tree. Local (the Unix socket) says whether the text of
// internal errors may be sent.
type Handler struct {
	K     *kernel.Kernel
	Local bool

	davOnce sync.Once
	dav     http.Handler // the tree over WebDAV, under DAVPrefix

	filesOnce  sync.Once
	filesSlots chan struct{} // op=files requests held in memory at once
}

// ClientName is the name of ctx's remote client (its token's), "" for
// the owner (the local socket).
func ClientName(ctx context.Context) string { return kernel.CallerFrom(ctx).Name }

// MaxCall bounds a call request.
const MaxCall = 64 << 10

// origin marks calls made through this API, so their changes reach the
// mount's caches.
type origin struct{}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.K.Log.Error("api: panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			h.fail(w, r, kernel.E(kernel.Internal, "internal error (logged)"))
		}
	}()
	ctx := kernel.WithOrigin(r.Context(), origin{})
	if r.URL.Path == DAVPrefix || strings.HasPrefix(r.URL.Path, DAVPrefix+"/") {
		h.davOnce.Do(func() { h.dav = newDAV(h.K) })
		if r.Method == "LOCK" || r.Method == "UNLOCK" {
			// A lock stops everyone's writes below it: only for those
			// who may write there.
			p, err := clean(strings.TrimPrefix(r.URL.Path, DAVPrefix))
			if err == nil {
				err = h.K.FS.Access(ctx, p, kernel.Write)
			}
			if err != nil {
				h.fail(w, r, err)
				return
			}
			boundTimeout(r)
		}
		h.dav.ServeHTTP(w, r.WithContext(ctx))
		return
	}
	p, err := kernel.CleanPath(r.URL.Path)
	if err != nil {
		h.fail(w, r, kernel.At("request", r.URL.Path, err))
		return
	}
	q := r.URL.Query()
	fsys := h.K.FS
	switch {
	case r.Method == http.MethodGet && q.Get("op") == "stat":
		a, err := fsys.Lstat(ctx, p)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, toAttr(path.Base(p), a))
	case r.Method == http.MethodGet && q.Get("op") == "list":
		ents, err := fsys.ReadDir(ctx, p)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out := make([]Attr, 0, len(ents))
		for _, e := range ents { // the kernel left out what the client may not see
			a, err := fsys.Lstat(ctx, path.Join(p, e.Name))
			if kernel.KindOf(err) == kernel.NotExist {
				continue // gone since the listing
			}
			if err != nil {
				h.fail(w, r, err)
				return
			}
			out = append(out, toAttr(e.Name, a))
		}
		writeJSON(w, out)
	case r.Method == http.MethodGet && q.Get("op") == "":
		h.read(ctx, w, r, p)
	case r.Method == http.MethodPut:
		h.write(ctx, w, r, p)
	case r.Method == http.MethodDelete:
		if q.Get("recursive") == "1" {
			err = fsys.RemoveAll(ctx, p)
		} else {
			err = fsys.Remove(ctx, p)
		}
		h.done(w, r, err)
	case r.Method == http.MethodPost && q.Get("op") == "mkdir":
		mode, err := parseMode(q.Get("mode"), 0o755)
		if err == nil {
			if q.Get("parents") == "1" {
				err = fsys.MkdirAll(ctx, p, mode)
			} else {
				err = fsys.Mkdir(ctx, p, mode)
			}
		}
		h.done(w, r, err)
	case r.Method == http.MethodPost && q.Get("op") == "rename":
		to, err := kernel.CleanPath(q.Get("to"))
		if err != nil {
			h.fail(w, r, kernel.At("rename", q.Get("to"), err))
			return
		}
		h.done(w, r, fsys.Rename(ctx, p, to))
	case r.Method == http.MethodPost && q.Get("op") == "call":
		h.call(ctx, w, r, p)
	case r.Method == http.MethodPost && (q.Get("op") == "clone" || q.Get("op") == "exchange"):
		other, err := kernel.CleanPath(q.Get("to"))
		if err != nil {
			h.fail(w, r, kernel.At(q.Get("op"), q.Get("to"), err))
			return
		}
		if q.Get("op") == "clone" {
			h.done(w, r, fsys.Clone(ctx, p, other))
		} else {
			h.done(w, r, fsys.Exchange(ctx, p, other))
		}
	case r.Method == http.MethodGet && q.Get("op") == "sums":
		h.sums(ctx, w, r, p)
	case r.Method == http.MethodPost && q.Get("op") == "symlink":
		target := q.Get("target")
		if target == "" || strings.IndexByte(target, 0) >= 0 || len(target) > 4096 {
			h.fail(w, r, kernel.At("symlink", p, kernel.E(kernel.Invalid, "a symbolic link needs a target (no NUL, at most 4096 bytes)")))
			return
		}
		h.done(w, r, fsys.Symlink(ctx, target, p))
	case r.Method == http.MethodPost && q.Get("op") == "link":
		h.link(ctx, w, r)
	case r.Method == http.MethodPost && q.Get("op") == "files":
		h.files(ctx, w, r, p)
	case r.Method == http.MethodGet && q.Get("op") == "whoami":
		writeJSON(w, Whoami{Name: ClientName(ctx)})
	default:
		h.fail(w, r, kernel.At(r.Method, p, kernel.E(kernel.Invalid, "unknown operation")))
	}
}

// ReadAnswer reads a call file's answer, which follows the request of n
// bytes.
func ReadAnswer(ctx context.Context, f *kernel.File, n int64) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for off := n; len(out) <= MaxCall; {
		k, err := f.ReadAt(ctx, buf, off)
		out = append(out, buf[:k]...)
		off += int64(k)
		if err == io.EOF || (err == nil && k == 0) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LinkPair asks for a copy of From at To that shares its content (op=link).
type LinkPair struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// LinkAnswer lists the pairs of an op=link whose From was not there (by
// index): the client sends those files instead.
type LinkAnswer struct {
	Missing []int `json:"missing"`
}

// MaxLinks bounds the pairs of one op=link request.
const MaxLinks = 10000

// link clones many files in one request: what a deploy asks for content
// the tree already holds.
func (h *Handler) link(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	var pairs []LinkPair
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&pairs); err != nil {
		h.fail(w, r, kernel.At("link", "/", kernel.Wrap(kernel.Invalid, err)))
		return
	}
	ans, err := Link(ctx, h.K.FS, pairs)
	if err == nil {
		err = h.K.NS.Settle(ctx)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, ans)
}

// Link makes each pair's To a regular file sharing the content of its
// From (replacing a file there), with the access of ctx's client: From
// read, To written. A From that is missing, hidden or not a regular file
// is reported, not an error. The files are made in one change of the tree
// (kernel.FS.WriteFiles); should a From go meanwhile, pair by pair.
func Link(ctx context.Context, fsys *kernel.FS, pairs []LinkPair) (LinkAnswer, error) {
	ans := LinkAnswer{Missing: []int{}}
	if len(pairs) > MaxLinks {
		return ans, kernel.At("link", "/", kernel.E(kernel.TooLarge, fmt.Sprintf("over %d pairs in one request", MaxLinks)))
	}
	var files []kernel.NewFile
	var index []int // the pair of each file
	for i, p := range pairs {
		from, err := kernel.CleanPath(p.From)
		if err != nil {
			return ans, kernel.At("link", p.From, err)
		}
		to, err := kernel.CleanPath(p.To)
		if err != nil {
			return ans, kernel.At("link", p.To, err)
		}
		switch err := fsys.Access(ctx, to, kernel.Write); {
		case kernel.KindOf(err) == kernel.NotExist: // its directory is not there (or not for this client): sent, and refused, then
			ans.Missing = append(ans.Missing, i)
			continue
		case err != nil:
			return ans, err
		}
		a, err := fsys.Lstat(ctx, from)
		if err == nil && a.IsRegular() {
			err = fsys.Access(ctx, from, kernel.Read)
		}
		switch k := kernel.KindOf(err); {
		case k == kernel.NotExist || k == kernel.Permission || err == nil && !a.IsRegular():
			ans.Missing = append(ans.Missing, i) // not there, or not for this client: alike
			continue
		case err != nil:
			return ans, kernel.At("link", from, err)
		}
		files = append(files, kernel.NewFile{Path: to, Mode: a.Mode & 0o7777, From: from})
		index = append(index, i)
	}
	err := fsys.WriteFiles(ctx, files)
	if kernel.KindOf(err) != kernel.NotExist {
		return ans, err
	}
	// A From went since it was looked at (or a To's directory is not
	// there): one by one, so that only what is missing is reported.
	for j, f := range files {
		switch err := fsys.WriteFiles(ctx, []kernel.NewFile{f}); {
		case kernel.KindOf(err) == kernel.NotExist:
			ans.Missing = append(ans.Missing, index[j])
		case err != nil:
			return ans, err
		}
	}
	sort.Ints(ans.Missing)
	return ans, nil
}

// Whoami is who the API takes the client for (op=whoami): the name of
// its token, or "" through the local socket.
type Whoami struct {
	Name string `json:"name"`
}

// Sum is one entry of a tree's manifest (op=sums).
type Sum struct {
	Path   string `json:"path"` // relative to the tree's root
	Mode   uint32 `json:"mode"` // st_mode
	Size   int64  `json:"size"`
	Digest []byte `json:"digest,omitempty"` // regular files: see kernel.Digester
	Target string `json:"target,omitempty"` // symbolic links
}

// Sums is a tree's manifest, and the block size its digests use.
type Sums struct {
	BlockSize int64 `json:"block_size"`
	Entries   []Sum `json:"entries"`
}

// sums answers the manifest of the tree at p: every entry below it, with
// the digests of regular files, computed without reading content.
func (h *Handler) sums(ctx context.Context, w http.ResponseWriter, r *http.Request, root string) {
	out, err := Manifest(ctx, h.K.FS, root, r.URL.Query()["skip"]...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, out)
}

// Manifest lists every entry below root with the digests of its regular
// files (computed without reading content, see kernel.Manifester),
// skipping what the client of ctx may not see and the entries of root
// named in skip.
func Manifest(ctx context.Context, fsys *kernel.FS, root string, skip ...string) (Sums, error) {
	var out Sums
	bs, err := fsys.DigestBlockSize(ctx, root)
	if err != nil {
		return out, err
	}
	out.BlockSize = bs
	m, err := fsys.Manifest(ctx, root, skip...)
	if err != nil {
		return out, err
	}
	for _, e := range m { // the kernel left out what the client may not read
		out.Entries = append(out.Entries, Sum{Path: e.Path, Mode: e.Mode, Size: e.Size, Digest: e.Digest, Target: e.Target})
	}
	return out, nil
}

// call writes the request to a call file and answers what the same open
// reads back (a minted token, say).
func (h *Handler) call(ctx context.Context, w http.ResponseWriter, r *http.Request, p string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxCall+1))
	if err != nil {
		h.fail(w, r, kernel.At("call", p, kernel.Wrap(kernel.Interrupted, err)))
		return
	}
	if len(body) > MaxCall {
		h.fail(w, r, kernel.At("call", p, kernel.E(kernel.TooLarge, "request over 64 KiB")))
		return
	}
	f, err := h.K.FS.Open(ctx, p, kernel.ORdwr, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	if _, err := f.WriteAt(ctx, body, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := f.Sync(ctx); err != nil { // a last line without a newline
		h.fail(w, r, err)
		return
	}
	out, err := ReadAnswer(ctx, f, int64(len(body)))
	if err == nil {
		err = h.K.NS.Settle(ctx)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(out)
}

func (h *Handler) read(ctx context.Context, w http.ResponseWriter, r *http.Request, p string) {
	f, err := h.K.FS.Open(ctx, p, kernel.ORdonly, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	a, err := f.Stat(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if a.IsDir() {
		h.fail(w, r, kernel.At("read", p, kernel.E(kernel.IsDir, "is a directory")))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// Streamed: once the body has begun, an error can only cut it short.
	if _, err := io.Copy(w, f.Reader(ctx)); err != nil {
		h.K.Log.Warn("api: read cut short", "path", p, "err", err)
	}
}

func (h *Handler) write(ctx context.Context, w http.ResponseWriter, r *http.Request, p string) {
	mode, err := parseMode(r.URL.Query().Get("mode"), 0o644)
	if err != nil {
		h.fail(w, r, kernel.At("write", p, err))
		return
	}
	f, err := h.K.FS.Open(ctx, p, kernel.OWronly|kernel.OCreate|kernel.OTrunc, mode)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := io.Copy(f.Writer(ctx), r.Body); err != nil {
		// Nothing of a failed upload stays: what it wrote is dropped
		// and a file it made removed.
		f.Abort()
		if f.Created() {
			h.K.FS.Remove(context.WithoutCancel(ctx), p)
		}
		var ke *kernel.Error
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			err = kernel.At("write", p, kernel.E(kernel.TooLarge, fmt.Sprintf("request body over %d bytes", tooLarge.Limit)))
		case !errors.As(err, &ke):
			err = kernel.At("write", p, kernel.Wrap(kernel.Interrupted, err)) // the client went away
		}
		h.fail(w, r, err)
		return
	}
	h.done(w, r, f.Close())
}

func parseMode(s string, def uint32) (uint32, error) {
	if s == "" {
		return def, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, kernel.E(kernel.Invalid, "mode must be octal, at most 7777")
	}
	return uint32(m), nil
}

func (h *Handler) done(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		err = h.K.NS.Settle(r.Context())
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail answers with err's kind and, unless it is internal and the client
// remote, its text.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	kind := kernel.KindOf(err)
	body := errorBody{Kind: kind.ID(), Error: err.Error()}
	var ke *kernel.Error
	if errors.As(err, &ke) {
		body.Op, body.Path, body.Error = ke.Op, ke.Path, ke.Reason()
	}
	if kind == kernel.Internal {
		h.K.Log.Error("api: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		if !h.Local {
			body.Error = kind.String()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(kind.HTTPStatus())
	json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Server is the local API on a Unix socket.
type Server struct {
	path string
	http *http.Server
	done chan error
}

// Listen serves k's tree on a Unix socket at path, mode 0600, replacing a
// stale socket file (the caller holds the data directory's lock).
func Listen(k *kernel.Kernel, path string) (*Server, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{path: path, done: make(chan error, 1),
		http: &http.Server{Handler: &Handler{K: k, Local: true}, ReadHeaderTimeout: 10 * time.Second}}
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// Close stops accepting, lets requests in flight finish for up to grace,
// and removes the socket.
func (s *Server) Close(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	<-s.done
	os.Remove(s.path)
	return err
}
