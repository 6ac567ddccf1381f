package httpd

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/andybalholm/brotli"

	"github.com/fazt-sh/fazt/kernel"
)

// Files too large for the response cache are served from their chunks. A
// compressible one (a 2.5 MB HTML index, a large JSON file) still gets its
// gzip and brotli forms: made in the background on its first request, one
// file at a time, and kept by content (the ETag) within a budget of their
// own; until they are ready the file goes out whole. The work is bounded by
// bigFormsMaxFile per file and the faster compression levels.
const (
	bigFormsMaxFile = 64 << 20 // larger files always go out whole
	bigFormsBudget  = 64 << 20 // bytes of compressed forms kept
)

// bigForms are the compressed forms of large files, by ETag.
type bigForms struct {
	mu      sync.Mutex // guards the fields below
	forms   map[string]*forms
	order   []string // ETags, oldest first, for eviction
	bytes   int64
	working bool           // a file is being compressed
	done    sync.WaitGroup // the compression running, if any
}

// forms are one content's encoded forms; nil where compressing saved too
// little.
type forms struct{ gz, br []byte }

func newBigForms() *bigForms { return &bigForms{forms: map[string]*forms{}} }

// get returns the forms of etag, if they are made.
func (b *bigForms) get(etag string) *forms {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.forms[etag]
}

// want starts making the forms of c unless they exist, or another file is
// being compressed (a later request asks again).
func (b *bigForms) want(c *kernel.Content) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.working || b.forms[c.ETag] != nil {
		return
	}
	b.working = true
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		f, err := compressLarge(io.NewSectionReader(c.Reader, 0, c.Attr.Size), c.Attr.Size)
		b.mu.Lock()
		defer b.mu.Unlock()
		b.working = false
		if err != nil {
			return // the file changed under it; a later request asks again
		}
		b.forms[c.ETag] = f
		b.order = append(b.order, c.ETag)
		b.bytes += int64(len(f.gz) + len(f.br))
		for b.bytes > bigFormsBudget && len(b.order) > 1 {
			old := b.order[0]
			b.order = b.order[1:]
			if o := b.forms[old]; o != nil {
				b.bytes -= int64(len(o.gz) + len(o.br))
				delete(b.forms, old)
			}
		}
	}()
}

// clear drops every form (memory pressure).
func (b *bigForms) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.forms, b.order, b.bytes = map[string]*forms{}, nil, 0
}

// wait waits for a compression in progress (Close).
func (b *bigForms) wait() { b.done.Wait() }

// compressLarge makes the forms of a large file, streaming it through both
// compressors; a form is kept only if it saves at least a tenth.
func compressLarge(r io.Reader, size int64) (*forms, error) {
	var gz, br bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	bw := brotli.NewWriterLevel(&br, 5)
	if _, err := io.Copy(io.MultiWriter(zw, bw), r); err != nil {
		return nil, err
	}
	zw.Close()
	bw.Close()
	f := &forms{}
	if int64(gz.Len()) < size*9/10 {
		f.gz = gz.Bytes()
	}
	if int64(br.Len()) < size*9/10 {
		f.br = br.Bytes()
	}
	return f, nil
}

// streamForm answers a large file in an encoded form if it has one that
// the client takes, and says whether it did. Ranges and the rarer
// preconditions are answered on the identity form.
func (s *Server) streamForm(w http.ResponseWriter, r *http.Request, c *kernel.Content) bool {
	if r.Header.Get("Range") != "" || r.Header.Get("If-Match") != "" || r.Header.Get("If-Unmodified-Since") != "" {
		return false
	}
	f := s.big.get(c.ETag)
	if f == nil {
		s.big.want(c)
		return false
	}
	var body []byte
	ae := r.Header.Get("Accept-Encoding")
	h := w.Header()
	switch {
	case f.br != nil && accepts(ae, "br"):
		body = f.br
		h.Set("Content-Encoding", "br")
		h.Set("ETag", variantTag(c.ETag, "br"))
	case f.gz != nil && accepts(ae, "gzip"):
		body = f.gz
		h.Set("Content-Encoding", "gzip")
		h.Set("ETag", variantTag(c.ETag, "gz"))
	default:
		return false
	}
	// ServeContent leaves out the length of an encoded body.
	h.Set("Content-Length", strconv.Itoa(len(body)))
	http.ServeContent(w, r, "", c.Attr.Mtime, bytes.NewReader(body))
	return true
}
