package httpd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// inlineMax is the largest file kept in memory and in the cache.
const inlineMax = 1 << 20

// serveSite answers a request for site from /fs/site.
func (s *Server) serveSite(w http.ResponseWriter, r *http.Request, site string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.plain(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	p, ok := cleanURLPath(r)
	if !ok {
		s.plain(w, http.StatusBadRequest, "bad path")
		return
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
			return
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
			return
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if e != nil {
		s.writeEntry(w, r, e)
		return
	}
	s.stream(w, r, p, c)
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

// lookup returns the cached entry for site path p, or resolves it: small
// files come back as a new entry (cached), directories and large files as
// content. Concurrent misses of one path are resolved once: a deploy's
// first visitors would otherwise each read and compress the same file.
func (s *Server) lookup(ctx context.Context, site, p string) (*entry, *kernel.Content, error) {
	key := site + p
	if e := s.cache.get(key); e != nil {
		return e, nil, nil
	}
	v, err, shared := s.fills.Do(key, func() (any, error) {
		// Not the caller's context: other requests wait on this read.
		return s.resolve(context.WithoutCancel(ctx), site, p)
	})
	if err != nil {
		return nil, nil, err
	}
	r := v.(resolved)
	if r.c != nil && shared {
		// Content is read by one response only: resolve again.
		r, err = s.resolve(ctx, site, p)
		if err != nil {
			return nil, nil, err
		}
	}
	return r.e, r.c, nil
}

// resolved is an entry, or content that is not cached.
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

// resolve reads site path p from committed state, caching small files.
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
	if !c.Attr.IsRegular() || c.Data == nil {
		return resolved{c: c}, nil
	}
	e := &entry{key: key, etag: c.ETag, modtime: c.Attr.Mtime, data: c.Data, walked: c.Walked}
	e.ctype = contentType(p)
	if e.ctype == "" {
		e.ctype = http.DetectContentType(c.Data)
	}
	if compressible(e.ctype) {
		e.gz, e.br = variants(c.Data)
	}
	e.buildHeaders(cacheControl(p, e.ctype))
	s.cache.put(e, g)
	return resolved{e: e}, nil
}

// spaFallback returns the path named in SITE/.fazt/spa (a single-page
// app's entry, "/index.html"), or "".
func (s *Server) spaFallback(ctx context.Context, site string) string {
	e, _, err := s.lookup(ctx, site, "/.fazt/spa")
	if err != nil || e == nil || e.dir {
		return ""
	}
	v := strings.TrimSpace(string(e.data))
	if v == "" || v == "on" {
		v = "/index.html"
	}
	return path.Clean("/" + v)
}

// notFound answers 404 with the site's 404.html, or a plain page.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, site string) {
	if e, _, err := s.lookup(r.Context(), site, "/404.html"); err == nil && e != nil && !e.dir {
		h := w.Header()
		h.Set("Content-Type", e.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			w.Write(e.data)
		}
		return
	}
	s.plain(w, http.StatusNotFound, "404 page not found")
}

// buildHeaders makes the headers of each form's 200 response.
func (e *entry) buildHeaders(cacheCtl string) {
	for form, body := range [numForms][]byte{e.data, e.gz, e.br} {
		if body == nil && form != identity {
			continue
		}
		h := http.Header{}
		h.Set("Content-Type", e.ctype)
		h.Set("Cache-Control", cacheCtl)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Last-Modified", e.modtime.UTC().Format(http.TimeFormat))
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if e.gz != nil || e.br != nil {
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

// writeEntry answers from a cached entry: conditional requests, ranges
// (from the identity form), and the best encoding the client takes.
func (s *Server) writeEntry(w http.ResponseWriter, r *http.Request, e *entry) {
	form, body := identity, e.data
	// net/http does ranges and the rarer preconditions, on the identity
	// form.
	slow := r.Header.Get("Range") != "" || r.Header.Get("If-Match") != "" || r.Header.Get("If-Unmodified-Since") != ""
	if !slow && (e.gz != nil || e.br != nil) {
		switch ae := r.Header.Get("Accept-Encoding"); {
		case e.br != nil && accepts(ae, "br"):
			form, body = brotlied, e.br
		case e.gz != nil && accepts(ae, "gzip"):
			form, body = gzipped, e.gz
		}
	}
	h := w.Header()
	for k, v := range e.hdr[form] {
		h[k] = v
	}
	if slow {
		delete(h, "Content-Length")
		http.ServeContent(w, r, "", e.modtime, bytes.NewReader(e.data))
		return
	}
	// The common case by hand: ServeContent would send the headers and the
	// first 512 bytes in one write and the rest in another.
	if notModified(r, e) {
		for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding"} {
			delete(h, k)
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
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

// stream answers a file too large for the cache straight from its chunks.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p string, c *kernel.Content) {
	h := w.Header()
	ctype := contentType(p)
	if ctype == "" {
		head := make([]byte, 512)
		n, _ := c.Reader.ReadAt(head, 0)
		ctype = http.DetectContentType(head[:n])
	}
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", cacheControl(p, ctype))
	h.Set("X-Content-Type-Options", "nosniff")
	if compressible(ctype) && c.Attr.Size <= bigFormsMaxFile {
		h.Set("Vary", "Accept-Encoding")
		if s.streamForm(w, r, c) {
			return
		}
	}
	h.Set("ETag", c.ETag)
	http.ServeContent(w, r, "", c.Attr.Mtime, io.NewSectionReader(c.Reader, 0, c.Attr.Size))
}
