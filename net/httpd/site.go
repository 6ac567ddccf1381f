package httpd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path"
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
	case err == nil && c != nil && c.Attr.IsDir():
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
	if kernel.KindOf(err) == kernel.NotExist || kernel.KindOf(err) == kernel.NotDir ||
		err == nil && c != nil && !c.Attr.IsRegular() {
		if spa := s.spaFallback(r.Context(), site); spa != "" {
			e, c, err = s.lookup(r.Context(), site, spa)
		} else {
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
// content.
func (s *Server) lookup(ctx context.Context, site, p string) (*entry, *kernel.Content, error) {
	key := site + p
	if e := s.cache.get(key); e != nil {
		return e, nil, nil
	}
	g := s.cache.generation()
	c, err := s.k.NS.Publish(ctx, "/fs/"+site+p, inlineMax)
	if err != nil {
		return nil, nil, err
	}
	if !c.Attr.IsRegular() || c.Data == nil {
		return nil, c, nil
	}
	e := &entry{key: key, etag: c.ETag, modtime: c.Attr.Mtime, status: http.StatusOK, data: c.Data, walked: c.Walked}
	e.ctype = contentType(p)
	if e.ctype == "" {
		e.ctype = http.DetectContentType(c.Data)
	}
	e.cacheCtl = cacheControl(p, e.ctype)
	if compressible(e.ctype) {
		e.gz, e.br = variants(c.Data)
	}
	s.cache.put(e, g)
	return e, nil, nil
}

// spaFallback returns the path named in SITE/.fazt/spa (a single-page
// app's entry, "/index.html"), or "".
func (s *Server) spaFallback(ctx context.Context, site string) string {
	e, _, err := s.lookup(ctx, site, "/.fazt/spa")
	if err != nil || e == nil {
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
	if e, _, err := s.lookup(r.Context(), site, "/404.html"); err == nil && e != nil {
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

// writeEntry answers from a cached entry: conditional requests, ranges
// (from the identity form), and the best encoding the client takes.
func (s *Server) writeEntry(w http.ResponseWriter, r *http.Request, e *entry) {
	h := w.Header()
	h.Set("Content-Type", e.ctype)
	h.Set("Cache-Control", e.cacheCtl)
	h.Set("X-Content-Type-Options", "nosniff")
	if e.gz != nil || e.br != nil {
		h.Set("Vary", "Accept-Encoding")
	}
	ae := r.Header.Get("Accept-Encoding")
	body, tag, coding := e.data, e.etag, ""
	if r.Header.Get("Range") == "" {
		switch {
		case e.br != nil && accepts(ae, "br"):
			body, tag, coding = e.br, variantTag(e.etag, "br"), "br"
		case e.gz != nil && accepts(ae, "gzip"):
			body, tag, coding = e.gz, variantTag(e.etag, "gz"), "gzip"
		}
	}
	h.Set("ETag", tag)
	if coding == "" {
		// net/http does conditionals, ranges and HEAD for the identity.
		http.ServeContent(w, r, "", e.modtime, bytes.NewReader(e.data))
		return
	}
	if notModified(r, e) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Encoding", coding)
	h.Set("Last-Modified", e.modtime.UTC().Format(http.TimeFormat))
	h.Set("Content-Length", itoa(len(body)))
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
	if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil {
		return !e.modtime.Truncate(time.Second).After(ims)
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
	h.Set("ETag", c.ETag)
	http.ServeContent(w, r, "", c.Attr.Mtime, io.NewSectionReader(c.Reader, 0, c.Attr.Size))
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
