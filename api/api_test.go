package api_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/proc"
)

func boot(t *testing.T) (*proc.System, *api.Client) {
	t.Helper()
	dir := t.TempDir()
	sys, err := proc.Boot(context.Background(), proc.Config{DataDir: dir, Version: "v-api", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.Listen(sys.Kernel, filepath.Join(dir, "t.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(0); sys.Close() })
	return sys, api.Dial(filepath.Join(dir, "t.sock"))
}

func TestCalls(t *testing.T) {
	ctx := context.Background()
	sys, c := boot(t)
	if err := c.Mkdir(ctx, "/fs/blog/css", 0o755, true); err != nil {
		t.Fatal(err)
	}
	w := c.Create(ctx, "/fs/blog/index.html", 0o640)
	io.WriteString(w, "<h1>hi</h1>")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := c.Stat(ctx, "/fs/blog/index.html")
	if err != nil || a.Size != 11 || a.Mode&0o777 != 0o640 || a.Name != "index.html" {
		t.Fatalf("stat %+v %v", a, err)
	}
	r, err := c.Open(ctx, "/fs/blog/index.html")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "<h1>hi</h1>" {
		t.Fatalf("read %q", b)
	}
	list, err := c.List(ctx, "/fs/blog")
	if err != nil || len(list) != 2 || list[0].Name != "css" || list[1].Name != "index.html" {
		t.Fatalf("list %+v %v", list, err)
	}
	if err := c.Rename(ctx, "/fs/blog/index.html", "/fs/blog/home.html"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "/fs/blog", true); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Kernel.FS.Stat(ctx, "/fs/blog"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("remove -r: %v", err)
	}
	// ".." never climbs out.
	if _, err := c.Stat(ctx, "/fs/../../../proc/status"); err != nil {
		t.Fatal(err)
	}
}

// Errors come back as the kernel's errors, with their kind and reason.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	_, c := boot(t)
	_, err := c.Stat(ctx, "/fs/nope")
	if kernel.KindOf(err) != kernel.NotExist || !errors.Is(err, os.ErrNotExist) || err.Error() != "lstat /fs/nope: no such file or directory" {
		t.Fatalf("stat: %v", err)
	}
	w := c.Create(ctx, "/net/routes/BAD.example.com", 0o644)
	io.WriteString(w, "blog\n")
	err = w.Close()
	if kernel.KindOf(err) != kernel.Invalid || !strings.Contains(err.Error(), "host names are lower case") {
		t.Fatalf("bad route: %v", err)
	}
	// A ctl write: the failing line's error.
	w = c.Create(ctx, "/storage/ctl", 0o644)
	io.WriteString(w, "checkpoint\nbackup\n")
	if err := w.Close(); kernel.KindOf(err) != kernel.NotSupported || !strings.Contains(err.Error(), "no replica") {
		t.Fatalf("backup: %v", err)
	}
	if err := c.Mkdir(ctx, "/fs/a/b", 0o755, false); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("mkdir without parents: %v", err)
	}
	if err := c.Mkdir(ctx, "/top", 0o755, false); kernel.KindOf(err) != kernel.NotPermitted {
		t.Fatalf("mkdir at the root: %v", err)
	}
	if _, err := c.Open(ctx, "/fs"); kernel.KindOf(err) != kernel.IsDir {
		t.Fatalf("read a directory: %v", err)
	}
}

// A remote handler never sends the text of an internal error.
func TestInternalErrorsHidden(t *testing.T) {
	k := kernel.New("test", nil)
	k.NS.Bind("broken", brokenFS{})
	for _, local := range []bool{true, false} {
		rec := httptest.NewRecorder()
		(&api.Handler{K: k, Local: local}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/broken?op=stat", nil))
		body := rec.Body.String()
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d", rec.Code)
		}
		if leaked := strings.Contains(body, "secret detail"); leaked == !local {
			t.Errorf("local=%v: body %q", local, body)
		}
	}
}

type brokenFS struct{}

func (brokenFS) Root() uint64 { return 1 }
func (brokenFS) Getattr(context.Context, uint64) (kernel.Attr, error) {
	return kernel.Attr{}, errors.New("secret detail: /var/lib/fazt/fazt.db is locked by pid 42")
}
func (brokenFS) Lookup(context.Context, uint64, string) (kernel.Attr, error) {
	return kernel.Attr{}, kernel.E(kernel.NotExist, "none")
}
func (brokenFS) ReadDir(context.Context, uint64) ([]kernel.DirEntry, error) { return nil, nil }
func (brokenFS) Open(context.Context, uint64, int) (kernel.Handle, error)   { return nil, nil }
func (brokenFS) Readlink(context.Context, uint64) (string, error)           { return "", nil }
func (brokenFS) Statfs(context.Context) (kernel.Statfs, error)              { return kernel.Statfs{}, nil }

func TestSocketIsPrivate(t *testing.T) {
	dir := t.TempDir()
	k := kernel.New("test", nil)
	p := filepath.Join(dir, "s.sock")
	os.WriteFile(p, []byte("stale"), 0o644) // a stale file is replaced
	srv, err := api.Listen(k, p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v %v", st.Mode(), err)
	}
	srv.Close(0)
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("socket left after Close")
	}
}

// op=link clones many files in one request; for a scoped client a source
// it may not read is "missing", exactly like one that does not exist, and
// a destination outside its scope is refused.
func TestLink(t *testing.T) {
	ctx := context.Background()
	sys, c := boot(t)
	fs := sys.Kernel.FS
	for p, v := range map[string]string{"/fs/a/x.txt": "x", "/fs/secret/s.txt": "s", "/fs/b/old.txt": "old"} {
		if err := fs.MkdirAll(ctx, filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fs.WriteFile(ctx, p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	missing, err := c.Link(ctx, []api.LinkPair{{From: "/fs/a/x.txt", To: "/fs/b/x.txt"}, {From: "/fs/a/none", To: "/fs/b/n.txt"},
		{From: "/fs/a/x.txt", To: "/fs/b/old.txt"}})
	if err != nil || len(missing) != 1 || missing[0] != 1 {
		t.Fatalf("link: %v %v", missing, err)
	}
	for _, p := range []string{"/fs/b/x.txt", "/fs/b/old.txt"} {
		if b, err := fs.ReadFile(ctx, p); err != nil || string(b) != "x" {
			t.Fatalf("%s: %q %v", p, b, err)
		}
	}
	// A client that may read /fs/a and write /fs/b only.
	scoped := func(p string) kernel.Level {
		switch {
		case p == "/" || p == "/fs":
			return kernel.Traverse
		case strings.HasPrefix(p, "/fs/a"):
			return kernel.Read
		case strings.HasPrefix(p, "/fs/b"):
			return kernel.Write
		}
		return kernel.None
	}
	link := func(pairs []api.LinkPair) (*httptest.ResponseRecorder, string) {
		body, _ := json.Marshal(pairs)
		req := httptest.NewRequest(http.MethodPost, "/?op=link", bytes.NewReader(body))
		req = req.WithContext(kernel.WithCaller(req.Context(), kernel.Caller{Access: scoped, Remote: true}))
		rec := httptest.NewRecorder()
		(&api.Handler{K: sys.Kernel}).ServeHTTP(rec, req)
		return rec, rec.Body.String()
	}
	rec, body := link([]api.LinkPair{{From: "/fs/secret/s.txt", To: "/fs/b/s.txt"}, {From: "/fs/secret/none", To: "/fs/b/t.txt"}, {From: "/fs/a/x.txt", To: "/fs/b/y.txt"}})
	if rec.Code != 200 || !strings.Contains(body, `"missing":[0,1]`) {
		t.Fatalf("scoped link: %d %s", rec.Code, body)
	}
	if _, err := fs.Stat(ctx, "/fs/b/s.txt"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatal("a file the client may not read was linked")
	}
	if b, _ := fs.ReadFile(ctx, "/fs/b/y.txt"); string(b) != "x" {
		t.Fatalf("y.txt: %q", b)
	}
	// A To out of scope is missing as a To whose directory is not there
	// (the client would send it, and be refused then).
	if rec, body := link([]api.LinkPair{{From: "/fs/a/x.txt", To: "/fs/secret/x.txt"}}); rec.Code != 200 || !strings.Contains(body, `"missing":[0]`) {
		t.Fatalf("link out of scope: %d %s", rec.Code, body)
	}
	if _, err := fs.Stat(ctx, "/fs/secret/x.txt"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatal("linked out of scope")
	}
	if rec, body := link([]api.LinkPair{{From: "/fs/a/x.txt", To: "/fs/a/x2.txt"}}); rec.Code != 403 {
		t.Fatalf("link into a read-only place: %d %s", rec.Code, body)
	}
	// A directory is no source; a file's mode comes with its content.
	fs.Chmod(ctx, "/fs/a/x.txt", 0o600)
	missing, err = c.Link(ctx, []api.LinkPair{{From: "/fs/a", To: "/fs/b/dir"}, {From: "/fs/a/x.txt", To: "/fs/b/m.txt"}})
	if err != nil || len(missing) != 1 || missing[0] != 0 {
		t.Fatalf("link a directory: %v %v", missing, err)
	}
	if a, err := fs.Stat(ctx, "/fs/b/m.txt"); err != nil || a.Mode&0o7777 != 0o600 {
		t.Fatalf("linked file: %+v %v", a, err)
	}
	// A To whose directory is not there: its pair is missing, the
	// others linked.
	missing, err = c.Link(ctx, []api.LinkPair{{From: "/fs/a/x.txt", To: "/fs/b/none/x.txt"}, {From: "/fs/a/x.txt", To: "/fs/b/z.txt"}})
	if err != nil || len(missing) != 1 || missing[0] != 0 {
		t.Fatalf("link into a missing directory: %v %v", missing, err)
	}
	if b, _ := fs.ReadFile(ctx, "/fs/b/z.txt"); string(b) != "x" {
		t.Fatalf("z.txt: %q", b)
	}
}

func TestWriteFiles(t *testing.T) {
	ctx := context.Background()
	sys, c := boot(t)
	fs := sys.Kernel.FS
	for _, d := range []string{"/fs/b/css", "/fs/c"} {
		if err := fs.MkdirAll(ctx, d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	long := strings.Repeat("n", 200) // past a plain tar header's 100 bytes
	files := []kernel.NewFile{
		{Path: "/fs/b/index.html", Mode: 0o644, Data: []byte("<h1>b</h1>")},
		{Path: "/fs/b/css/" + long, Mode: 0o600, Data: bytes.Repeat([]byte("x"), 300_000)},
		{Path: "/fs/b/empty", Mode: 0o644},
	}
	if err := c.WriteFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(ctx, f.Path)
		a, _ := fs.Stat(ctx, f.Path)
		if err != nil || !bytes.Equal(b, f.Data) || a.Mode&0o7777 != f.Mode {
			t.Fatalf("%s: %d bytes, mode %o, %v", f.Path, len(b), a.Mode, err)
		}
	}
	// Across directories: the request goes to their common parent.
	if err := c.WriteFiles(ctx, []kernel.NewFile{{Path: "/fs/b/x", Data: []byte("x")}, {Path: "/fs/c/y", Data: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
	// op=sums leaves out the entries named in skip.
	sums, err := c.Sums(ctx, "/fs", "b")
	var listed []string
	for _, e := range sums.Entries {
		listed = append(listed, e.Path)
	}
	if got := strings.Join(listed, " "); err != nil || !strings.Contains(got, "c/y") || strings.Contains(got, "b") {
		t.Fatalf("sums skipping b: %s %v", got, err)
	}
	// A missing directory fails the whole request, naming the file.
	err = c.WriteFiles(ctx, []kernel.NewFile{{Path: "/fs/b/z", Data: []byte("z")}, {Path: "/fs/b/none/z", Data: []byte("z")}})
	if kernel.KindOf(err) != kernel.NotExist || !strings.Contains(err.Error(), "/fs/b/none/z") {
		t.Fatalf("missing directory: %v", err)
	}
	if _, err := fs.Stat(ctx, "/fs/b/z"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatal("a failed request wrote a file")
	}

	// A client that may write /fs/b only: a file elsewhere in the stream
	// refuses the request.
	scoped := func(p string) kernel.Level {
		switch {
		case p == "/" || p == "/fs":
			return kernel.Traverse
		case p == "/fs/b" || strings.HasPrefix(p, "/fs/b/"):
			return kernel.Write
		}
		return kernel.None
	}
	post := func(root string, entries map[string]string, typ byte) (int, string) {
		var body bytes.Buffer
		tw := tar.NewWriter(&body)
		for name, v := range entries {
			tw.WriteHeader(&tar.Header{Typeflag: typ, Name: name, Mode: 0o644, Size: int64(len(v))})
			io.WriteString(tw, v)
		}
		tw.Close()
		req := httptest.NewRequest(http.MethodPost, root+"?op=files", &body)
		req = req.WithContext(kernel.WithCaller(req.Context(), kernel.Caller{Access: scoped, Remote: true}))
		rec := httptest.NewRecorder()
		(&api.Handler{K: sys.Kernel}).ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, body := post("/fs", map[string]string{"b/ok": "ok", "c/evil": "evil"}, tar.TypeReg); code != 404 {
		t.Fatalf("a file outside the scope: %d %s", code, body)
	}
	if code, body := post("/fs/b", map[string]string{"../c/evil": "evil"}, tar.TypeReg); code != 400 {
		t.Fatalf("a name climbing out: %d %s", code, body)
	}
	if code, body := post("/fs/b", map[string]string{"link": ""}, tar.TypeSymlink); code != 400 {
		t.Fatalf("a symbolic link: %d %s", code, body)
	}
	for _, p := range []string{"/fs/c/evil", "/fs/b/ok"} {
		if _, err := fs.Stat(ctx, p); kernel.KindOf(err) != kernel.NotExist {
			t.Fatalf("%s written by a refused request", p)
		}
	}
	if code, body := post("/fs/b", map[string]string{"ok": "ok"}, tar.TypeReg); code != 204 {
		t.Fatalf("a file in scope: %d %s", code, body)
	}
	req := httptest.NewRequest(http.MethodPost, "/fs/b?op=files", strings.NewReader(strings.Repeat("not tar ", 100)))
	rec := httptest.NewRecorder()
	(&api.Handler{K: sys.Kernel}).ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Fatalf("not a tar stream: %d %s", rec.Code, rec.Body)
	}
}

// An upload that fails half way leaves the file it replaced as it was, and
// removes one it made (kernel.File.Abort).
func TestFailedUploadLeavesNothing(t *testing.T) {
	ctx := context.Background()
	sys, _ := boot(t)
	fs := sys.Kernel.FS
	if err := fs.MkdirAll(ctx, "/fs/b", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteFile(ctx, "/fs/b/old.txt", []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &api.Handler{K: sys.Kernel}
	for _, p := range []string{"/fs/b/old.txt", "/fs/b/new.txt"} {
		body := io.MultiReader(strings.NewReader(strings.Repeat("x", 3<<20)), iotest.ErrReader(errors.New("client went away")))
		req := httptest.NewRequest(http.MethodPut, p, body)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 400 {
			t.Fatalf("%s: %d", p, rec.Code)
		}
	}
	if b, err := fs.ReadFile(ctx, "/fs/b/old.txt"); err != nil || string(b) != "old content" {
		t.Fatalf("the replaced file: %.40q (%d bytes) %v", b, len(b), err)
	}
	if _, err := fs.Stat(ctx, "/fs/b/new.txt"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("the new file stayed: %v", err)
	}
}
