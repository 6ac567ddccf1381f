package httpd

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// memMax is the largest body kept in memory; larger files are sent from
// the store (or, until they are stored, from the database).
const memMax = 64 << 10

// inlineMax is the largest file read whole in the read transaction that
// resolves it: its response cannot be cut short by the file's replacement
// (a larger one is streamed, and a read fails if its old chunks are
// collected meanwhile).
const inlineMax = 1 << 20

// serveSite answers a request for site from /fs/site.
func (s *Server) serveSite(w http.ResponseWriter, r *http.Request, site string) {
	// A body the store evicted between the lookup and the answer: once
	// more, resolved anew.
	if !s.answerSite(w, r, site) {
		s.answerSite(w, r, site)
	}
}

// answerSite answers, or says false, having written nothing, when a stored
// body its entry named is gone (the entry is dropped).
func (s *Server) answerSite(w http.ResponseWriter, r *http.Request, site string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.plain(w, http.StatusMethodNotAllowed, "method not allowed")
		return true
	}
	p, ok := cleanURLPath(r)
	if !ok {
		s.plain(w, http.StatusBadRequest, "bad path")
		return true
	}
	var e *entry
	var c *kernel.Content
	var err error = kernel.E(kernel.NotExist, "hidden") // never served, answered as missing
	if !hidden(p) {
		e, c, err = s.lookup(r.Context(), site, p)
	}
	switch {
	case err == nil && (e != nil && e.dir || c != nil && c.Attr.IsDir()):
		if !strings.HasSuffix(r.URL.Path, "/") {
			target := r.URL.Path + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return true
		}
		e, c, err = s.lookup(r.Context(), site, path.Join(p, "index.html"))
	}
	missing := func() bool {
		return kernel.KindOf(err) == kernel.NotExist || kernel.KindOf(err) == kernel.NotDir ||
			err == nil && (e != nil && e.dir || c != nil && !c.Attr.IsRegular())
	}
	if missing() {
		if spa := s.spaFallback(r.Context(), site); spa != "" {
			e, c, err = s.lookup(r.Context(), site, spa)
		}
		if missing() {
			s.notFound(w, r, site)
			return true
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return true
	}
	if !s.writeEntry(w, r, e, c) {
		s.cache.remove(e.key)
		return false
	}
	return true
}

// cleanURLPath returns the request path, cleaned; false for encoded
// slashes or NUL, which no file name has.
func cleanURLPath(r *http.Request) (string, bool) {
	raw := r.URL.EscapedPath()
	if strings.Contains(strings.ToLower(raw), "%2f") || strings.Contains(strings.ToLower(raw), "%5c") ||
		strings.ContainsRune(r.URL.Path, 0) || strings.Contains(strings.ToLower(raw), "%00") {
		return "", false
	}
	return path.Clean("/" + r.URL.Path), true
}

// hidden reports whether a path goes through a name starting with '.',
// other than .well-known.
func hidden(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if strings.HasPrefix(c, ".") && c != ".well-known" {
			return true
		}
	}
	return false
}

// lookup returns the entry for site path p, cached or resolved; c is the
// content when its identity form must be read from the database (it is
// not in memory nor in the store yet). Concurrent misses of one path are
// resolved once.
func (s *Server) lookup(ctx context.Context, site, p string) (e *entry, c *kernel.Content, err error) {
	key := site + p
	if e := s.cache.get(key); e != nil {
		return e, nil, nil
	}
	v, err, _ := s.fills.Do(key, func() (any, error) {
		// Not the caller's context: other requests wait on this read.
		return s.resolve(context.WithoutCancel(ctx), site, p)
	})
	if err != nil {
		return nil, nil, err
	}
	// Content is shared by the waiters: its data is read-only and its
	// reader reads at offsets, without state.
	r := v.(resolved)
	return r.e, r.c, nil
}

// resolved is an entry, with the content to stream when the entry cannot
// answer alone (it is then not cached).
type resolved struct {
	e *entry
	c *kernel.Content
}

// visitor is who reads a site for the public: a caller that may read
// the site's tree and nothing else, so a link in the site that leads out
// of it leads nowhere (the kernel checks it, as for every caller).
func visitor(site string) kernel.Caller {
	return kernel.Scope(kernel.Caller{Name: "site:" + site, Remote: true}, map[string]kernel.Level{"/fs/" + site: kernel.Read})
}

// resolve reads site path p from committed state and makes its entry:
// small bodies in memory, the others from the store. What the store lacks
// is queued to be made (the content as it is, if large; the compressed
// forms of a compressible file); until then the entry is not cached and
// the file goes out whole, from the database if large.
func (s *Server) resolve(ctx context.Context, site, p string) (resolved, error) {
	key := site + p
	g := s.cache.generation()
	c, err := s.k.NS.Publish(kernel.WithCaller(ctx, visitor(site)), "/fs/"+site+p, inlineMax)
	if err != nil {
		return resolved{}, err
	}
	if c.Attr.IsDir() {
		// Remembered, so that "/" costs no read to learn it is one.
		e := &entry{key: key, dir: true, walked: c.Walked}
		s.cache.put(e, g)
		return resolved{e: e}, nil
	}
	if !c.Attr.IsRegular() {
		return resolved{c: c}, nil
	}
	e := &entry{key: key, etag: c.ETag, modtime: c.Attr.Mtime, size: c.Attr.Size, walked: c.Walked}
	e.ctype = contentType(p)
	if e.ctype == "" {
		head := c.Data
		if c.Reader != nil {
			head = make([]byte, 512)
			n, _ := c.Reader.ReadAt(head, 0)
			head = head[:n]
		}
		e.ctype = http.DetectContentType(head)
	}
	complete := true
	need := job{c: c}
	if c.Reader == nil && e.size <= memMax {
		e.mem[identity] = c.Data
	} else if complete = s.fromStore(e, identity); !complete {
		need.identity = true
	}
	if compressible(e.ctype) && e.size >= 512 && e.size <= compressMax {
		for _, form := range []int{gzipped, brotlied} {
			if !s.fromStore(e, form) {
				complete, need.compress = false, true
			}
		}
	}
	e.buildHeaders(cacheControl(p, e.ctype), compressible(e.ctype) && e.size <= compressMax)
	if s.store != nil && (need.identity || need.compress) {
		s.store.want(need)
	}
	if !e.has(identity) {
		return resolved{e: e, c: c}, nil // streamed from the database; not cached
	}
	if !complete && s.store != nil {
		return resolved{e: e}, nil // cached once its forms are made
	}
	s.cache.put(e, g)
	return resolved{e: e}, nil
}

// fromStore takes e's form from the store, if it is there: into memory
// when small. False if the store does not know the form yet.
func (s *Server) fromStore(e *entry, form int) bool {
	if s.store == nil {
		return false
	}
	size, ok := s.store.lookup(e.etag, form)
	switch {
	case !ok:
		return false
	case size == 0: // not worth having
		return true
	case size <= memMax:
		b, ok := s.store.read(e.etag, form, size)
		e.mem[form] = b
		return ok
	}
	e.stored[form] = size
	return true
}

// spaFallback returns the path named in SITE/.fazt/spa (a single-page
// app's entry, "/index.html"), or "".
func (s *Server) spaFallback(ctx context.Context, site string) string {
	e, _, err := s.lookup(ctx, site, "/.fazt/spa")
	if err != nil || e == nil || e.dir || e.mem[identity] == nil {
		return ""
	}
	v := strings.TrimSpace(string(e.mem[identity]))
	if v == "" || v == "on" {
		v = "/index.html"
	}
	return path.Clean("/" + v)
}

// notFound answers 404 with the site's 404.html, or a plain page.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, site string) {
	if e, _, err := s.lookup(r.Context(), site, "/404.html"); err == nil && e != nil && !e.dir && e.mem[identity] != nil {
		h := w.Header()
		h.Set("Content-Type", e.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			w.Write(e.mem[identity])
		}
		return
	}
	s.plain(w, http.StatusNotFound, "404 page not found")
}

// buildHeaders makes the headers of each form's 200 response. vary: the
// file may have compressed forms (now or once they are made).
func (e *entry) buildHeaders(cacheCtl string, vary bool) {
	for form := range numForms {
		if form != identity && !e.has(form) {
			continue
		}
		h := http.Header{}
		h.Set("Content-Type", e.ctype)
		h.Set("Cache-Control", cacheCtl)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Last-Modified", e.modtime.UTC().Format(http.TimeFormat))
		size := e.size
		if form != identity {
			size = max(int64(len(e.mem[form])), e.stored[form])
		}
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		if vary {
			h.Set("Vary", "Accept-Encoding")
		}
		switch form {
		case identity:
			h.Set("ETag", e.etag)
			h.Set("Accept-Ranges", "bytes")
		case gzipped:
			h.Set("ETag", variantTag(e.etag, "gz"))
			h.Set("Content-Encoding", "gzip")
		case brotlied:
			h.Set("ETag", variantTag(e.etag, "br"))
			h.Set("Content-Encoding", "br")
		}
		e.hdr[form] = h
	}
}

// writeEntry answers from an entry: conditional requests, ranges (from the
// identity form), and the best encoding the client takes. Bodies come from
// memory, from the store (sendfile), or for the identity form of a file
// not stored yet from c, the database. False, with nothing written, if a
// stored body is gone.
func (s *Server) writeEntry(w http.ResponseWriter, r *http.Request, e *entry, c *kernel.Content) bool {
	form := identity
	// net/http does ranges and the rarer preconditions, on the identity
	// form.
	slow := r.Header.Get("Range") != "" || r.Header.Get("If-Match") != "" || r.Header.Get("If-Unmodified-Since") != ""
	if !slow && e.encoded() {
		switch ae := r.Header.Get("Accept-Encoding"); {
		case e.has(brotlied) && accepts(ae, "br"):
			form = brotlied
		case e.has(gzipped) && accepts(ae, "gzip"):
			form = gzipped
		}
	}
	h := w.Header()
	for k, v := range e.hdr[form] {
		h[k] = v
	}
	if slow {
		delete(h, "Content-Length")
		body, done, ok := s.body(e, c, identity)
		if !ok {
			clear(h)
			return false
		}
		defer done()
		http.ServeContent(w, r, "", e.modtime, body)
		return true
	}
	// The common case by hand: ServeContent would send the headers and the
	// first 512 bytes in one write and the rest in another.
	if notModified(r, e) {
		for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding"} {
			delete(h, k)
		}
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return true
	}
	if b := e.mem[form]; b != nil {
		w.WriteHeader(http.StatusOK)
		w.Write(b)
		return true
	}
	body, done, ok := s.body(e, c, form)
	if !ok {
		clear(h)
		return false
	}
	defer done()
	w.WriteHeader(http.StatusOK)
	// Through the response's ReadFrom, which hands a stored form's file
	// to the socket's (sendfile); io.Copy would take the file's WriteTo
	// first and copy it in 32 KiB writes.
	io.Copy(w, io.LimitReader(body, math.MaxInt64))
	return true
}

// body opens a form's body; false if the store lost it.
func (s *Server) body(e *entry, c *kernel.Content, form int) (io.ReadSeeker, func(), bool) {
	switch {
	case e.mem[form] != nil:
		return bytes.NewReader(e.mem[form]), func() {}, true
	case e.stored[form] > 0:
		f, ok := s.store.open(e.etag, form, e.stored[form])
		if !ok {
			return nil, nil, false
		}
		return f, func() { f.Close() }, true
	case form == identity && c != nil && c.Data != nil:
		return bytes.NewReader(c.Data), func() {}, true
	case form == identity && c != nil:
		return io.NewSectionReader(c.Reader, 0, e.size), func() {}, true
	}
	return nil, nil, false
}

// variantTag is the ETag of an encoded form: "hash-br".
func variantTag(etag, suffix string) string {
	return strings.TrimSuffix(etag, `"`) + "-" + suffix + `"`
}

// notModified evaluates If-None-Match (any form of the entry matches) and,
// without it, If-Modified-Since.
func notModified(r *http.Request, e *entry) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		base := strings.TrimSuffix(e.etag, `"`)
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || strings.HasPrefix(strings.TrimSuffix(t, `"`), base) {
				return true
			}
		}
		return false
	}
	if v := r.Header.Get("If-Modified-Since"); v != "" {
		if ims, err := http.ParseTime(v); err == nil {
			return !e.modtime.Truncate(time.Second).After(ims)
		}
	}
	return false
}
