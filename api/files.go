package api

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/fazt-sh/fazt/kernel"
)

// op=files writes many small files in one request and one change of the
// tree (kernel.FS.WriteFiles): what a deploy sends. The body is a tar
// stream of regular files named relative to the request's path, whose
// directories exist. A request per file costs a round trip, a path walk and
// three changes of the tree; this costs one of each per request.

// MaxFiles bounds the files of one op=files request.
const MaxFiles = 4000

// filesAtOnce bounds the op=files requests read at once: each is held in
// memory (up to kernel.MaxWriteFiles), and they are written one after the
// other anyway.
const filesAtOnce = 4

// files writes the tar stream of r below root.
func (h *Handler) files(ctx context.Context, w http.ResponseWriter, r *http.Request, root string) {
	h.filesOnce.Do(func() { h.filesSlots = make(chan struct{}, filesAtOnce) })
	select {
	case h.filesSlots <- struct{}{}:
		defer func() { <-h.filesSlots }()
	case <-ctx.Done():
		h.fail(w, r, kernel.At("write", root, kernel.Wrap(kernel.Interrupted, ctx.Err())))
		return
	}
	tr := tar.NewReader(r.Body)
	var files []kernel.NewFile
	var total int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			h.fail(w, r, kernel.At("write", root, bodyError(err, "not a tar stream")))
			return
		}
		rel := path.Clean("/" + hdr.Name)[1:]
		if rel == "" || hdr.Name != rel && hdr.Name != "./"+rel {
			h.fail(w, r, kernel.At("write", root, kernel.E(kernel.Invalid, fmt.Sprintf("%q: names must be clean and relative", hdr.Name))))
			return
		}
		p := path.Join(root, rel)
		if hdr.Typeflag != tar.TypeReg {
			h.fail(w, r, kernel.At("write", p, kernel.E(kernel.Invalid, "only regular files can be sent this way")))
			return
		}
		if total += hdr.Size; total > kernel.MaxWriteFiles || len(files) == MaxFiles {
			h.fail(w, r, kernel.At("write", root, kernel.E(kernel.TooLarge,
				fmt.Sprintf("over %d files or %d bytes in one request", MaxFiles, kernel.MaxWriteFiles))))
			return
		}
		data := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			h.fail(w, r, kernel.At("write", p, bodyError(err, "the tar stream ends inside a file")))
			return
		}
		files = append(files, kernel.NewFile{Path: p, Mode: uint32(hdr.Mode) & 0o7777, Data: data})
	}
	h.done(w, r, h.K.FS.WriteFiles(ctx, files))
}

// bodyError classifies an error reading a request's body.
func bodyError(err error, bad string) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return kernel.E(kernel.TooLarge, fmt.Sprintf("request body over %d bytes", tooLarge.Limit))
	case errors.Is(err, tar.ErrHeader), errors.Is(err, io.ErrUnexpectedEOF):
		return kernel.Wrap(kernel.Invalid, fmt.Errorf("%s: %w", bad, err))
	}
	return kernel.Wrap(kernel.Interrupted, err) // the client went away
}

// WriteFiles writes files in one request (op=files): all of them or, on
// an error, none. Their paths are absolute; their directories must exist.
func (c *Client) WriteFiles(ctx context.Context, files []kernel.NewFile) error {
	if len(files) == 0 {
		return nil
	}
	root := path.Dir(path.Clean(files[0].Path))
	for _, f := range files {
		for root != "/" && !strings.HasPrefix(path.Clean(f.Path), root+"/") {
			root = path.Dir(root)
		}
	}
	var body bytes.Buffer
	tw := tar.NewWriter(&body)
	for _, f := range files {
		rel := strings.TrimPrefix(strings.TrimPrefix(path.Clean(f.Path), root), "/")
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: int64(f.Mode & 0o7777), Size: int64(len(f.Data))}
		if err := tw.WriteHeader(hdr); err != nil {
			return kernel.At("write", f.Path, kernel.Wrap(kernel.Invalid, err))
		}
		if _, err := tw.Write(f.Data); err != nil {
			return kernel.At("write", f.Path, kernel.Wrap(kernel.Invalid, err))
		}
	}
	if err := tw.Close(); err != nil {
		return kernel.At("write", root, kernel.Wrap(kernel.Invalid, err))
	}
	resp, err := c.do(ctx, http.MethodPost, root, url.Values{"op": {"files"}}, &body)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
