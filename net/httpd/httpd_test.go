package httpd_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/fazt-sh/fazt/proc"
)

type site struct {
	t    *testing.T
	sys  *proc.System
	base string // http://127.0.0.1:port
	ctx  context.Context
	tr   *http.Transport // one, so that polling reuses its connections
}

func start(t *testing.T) *site {
	t.Helper()
	ctx := context.Background()
	sys, err := proc.Boot(ctx, proc.Config{DataDir: t.TempDir(), Version: "v-http", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"/net/http", "/net/https"} {
		if err := sys.Kernel.FS.WriteFile(ctx, a, []byte("127.0.0.1:0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := sys.OpenNet(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.CloseNet(time.Second); sys.Close() })
	var addr string
	for _, l := range sys.Web().Status() {
		if v, ok := strings.CutPrefix(l, "http_addr "); ok {
			addr = v
		}
	}
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &site{t: t, sys: sys, base: "http://" + addr, ctx: ctx, tr: tr}
}

func (s *site) write(p, data string) {
	s.t.Helper()
	fs := s.sys.Kernel.FS
	if i := strings.LastIndex(p, "/"); i > 0 {
		if err := fs.MkdirAll(s.ctx, p[:i], 0o755); err != nil {
			s.t.Fatal(err)
		}
	}
	if err := fs.WriteFile(s.ctx, p, []byte(data), 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.sys.Commit(s.ctx)
}

func (s *site) route(host, target string) {
	s.t.Helper()
	if err := s.sys.Kernel.FS.WriteFile(s.ctx, "/net/routes/"+host, []byte(target+"\n"), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// get sends a request for host and path, with headers "K: V".
func (s *site) get(host, path string, headers ...string) *http.Response {
	s.t.Helper()
	return s.do(http.MethodGet, host, path, headers...)
}

func (s *site) do(method, host, path string, headers ...string) *http.Response {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, nil)
	req.Host = host
	req.Header.Set("Accept-Encoding", "identity")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := s.tr.RoundTrip(req)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// waitEncoding asks for path, taking gzip and br, until it comes in enc
// (forms are made in the background), for a minute at most.
func (s *site) waitEncoding(host, path, enc string) *http.Response {
	s.t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		r := s.get(host, path, "Accept-Encoding: gzip, br")
		if r.Header.Get("Content-Encoding") == enc {
			return r
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if time.Now().After(deadline) {
			s.t.Fatalf("%s%s: no %s form within a minute: %v", host, path, enc, r.Header)
		}
	}
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func want(t *testing.T, r *http.Response, code int, bodyPart string) string {
	t.Helper()
	b := body(t, r)
	if r.StatusCode != code || !strings.Contains(b, bodyPart) {
		t.Fatalf("%s %s: %d %q, want %d with %q", r.Request.Method, r.Request.URL.Path, r.StatusCode, b, code, bodyPart)
	}
	return b
}

func TestStatic(t *testing.T) {
	s := start(t)
	page := "<html><body>" + strings.Repeat("hello fazt ", 200) + "</body></html>"
	s.write("/fs/blog/index.html", page)
	s.write("/fs/blog/docs/index.html", "<p>docs</p>")
	s.write("/fs/blog/style.css", "body { color: red }")
	s.write("/fs/blog/app.3f9a2c1b.js", "console.log(1)")
	s.write("/fs/blog/.git/config", "[secret]")
	s.route("blog.example.com", "blog")

	r := s.get("blog.example.com", "/")
	want(t, r, 200, "hello fazt")
	if r.Header.Get("Content-Type") != "text/html; charset=utf-8" || r.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers %v", r.Header)
	}
	etag, lm := r.Header.Get("ETag"), r.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatal("no ETag or Last-Modified")
	}
	want(t, s.get("blog.example.com", "/", "If-None-Match: "+etag), 304, "")
	want(t, s.get("blog.example.com", "/", "If-Modified-Since: "+lm), 304, "")
	want(t, s.get("blog.example.com", "/", `If-None-Match: "other"`), 200, "hello")
	r = s.get("blog.example.com", "/docs")
	if r.StatusCode != 301 || r.Header.Get("Location") != "/docs/" {
		t.Fatalf("dir without slash: %d %v", r.StatusCode, r.Header)
	}
	want(t, s.get("blog.example.com", "/docs/"), 200, "docs")
	if cc := s.get("blog.example.com", "/app.3f9a2c1b.js").Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Fatalf("hashed asset: %q", cc)
	}
	if cc := s.get("blog.example.com", "/style.css").Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Fatalf("asset: %q", cc)
	}
	// Ranges, one and several.
	r = s.get("blog.example.com", "/style.css", "Range: bytes=0-3")
	if b := want(t, r, 206, ""); b != "body" {
		t.Fatalf("range: %q", b)
	}
	r = s.get("blog.example.com", "/style.css", "Range: bytes=0-3,5-5")
	if b := want(t, r, 206, "body"); !strings.Contains(r.Header.Get("Content-Type"), "multipart/byteranges") || !strings.Contains(b, "\r\n{\r\n") {
		t.Fatalf("ranges: %v %q", r.Header, b)
	}
	want(t, s.get("blog.example.com", "/style.css", "Range: bytes=999-"), 416, "")
	// Hidden, missing, unknown host, wrong method.
	want(t, s.get("blog.example.com", "/.git/config"), 404, "not found")
	want(t, s.get("blog.example.com", "/nope"), 404, "not found")
	want(t, s.get("other.example.com", "/"), 404, "no site is configured for other.example.com")
	r = s.do(http.MethodPost, "blog.example.com", "/")
	if r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d", r.StatusCode)
	}
	r = s.do(http.MethodHead, "blog.example.com", "/style.css")
	if b := want(t, r, 200, ""); b != "" || r.ContentLength != 19 {
		t.Fatalf("HEAD: %q %d", b, r.ContentLength)
	}
	// The host is case-insensitive and may carry a port.
	want(t, s.get("Blog.Example.COM:80", "/style.css"), 200, "color")
}

func TestCompression(t *testing.T) {
	s := start(t)
	page := strings.Repeat("<p>compress me</p>\n", 500)
	s.write("/fs/c/index.html", page)
	s.write("/fs/c/img.png", string(append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1, 2, 3}, 2000)...)))
	s.route("c.example.com", "c")

	// The forms are made in the background: whole at first.
	r := s.get("c.example.com", "/", "Accept-Encoding: gzip, br")
	if r.Header.Get("Vary") != "Accept-Encoding" || r.Header.Get("Content-Encoding") == "" && body(t, r) != page {
		t.Fatalf("first answer: %v", r.Header)
	}
	r = s.waitEncoding("c.example.com", "/", "br")
	got, _ := io.ReadAll(brotli.NewReader(r.Body))
	if string(got) != page {
		t.Fatal("brotli body differs")
	}
	brTag := r.Header.Get("ETag")
	r = s.get("c.example.com", "/", "Accept-Encoding: gzip")
	zr, err := gzip.NewReader(r.Body)
	if err != nil || r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %v %v", err, r.Header)
	}
	got, _ = io.ReadAll(zr)
	if string(got) != page || r.Header.Get("ETag") == brTag {
		t.Fatal("gzip body differs, or shares the ETag of br")
	}
	want(t, s.get("c.example.com", "/", "Accept-Encoding: br", "If-None-Match: "+brTag), 304, "")
	r = s.get("c.example.com", "/", "Accept-Encoding: gzip;q=0, br;q=0")
	if r.Header.Get("Content-Encoding") != "" || body(t, r) != page {
		t.Fatal("q=0 must mean identity")
	}
	r = s.get("c.example.com", "/img.png", "Accept-Encoding: gzip, br")
	if r.Header.Get("Content-Encoding") != "" || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("png compressed: %v", r.Header)
	}
}

func TestNotFoundAndSPA(t *testing.T) {
	s := start(t)
	s.write("/fs/a/index.html", "home")
	s.write("/fs/a/404.html", "<h1>custom 404</h1>")
	s.write("/fs/spa/index.html", "app shell")
	s.write("/fs/spa/.fazt/spa", "on\n")
	s.route("a.example.com", "a")
	s.route("spa.example.com", "spa")
	want(t, s.get("a.example.com", "/missing"), 404, "custom 404")
	want(t, s.get("spa.example.com", "/users/42"), 200, "app shell")
	want(t, s.get("spa.example.com", "/.fazt/spa"), 200, "app shell") // config is never served
	// A wildcard and the catch-all.
	s.route("*.example.org", "a")
	s.route("*", "spa")
	want(t, s.get("x.example.org", "/"), 200, "home")
	want(t, s.get("anything.test", "/"), 200, "app shell")
}

func TestPathEscapes(t *testing.T) {
	s := start(t)
	s.write("/fs/blog/index.html", "blog")
	s.write("/fs/blog/sub/page.html", "page")
	s.write("/fs/secret/key.txt", "SECRET")
	s.route("blog.example.com", "blog")
	fs := s.sys.Kernel.FS
	fs.Symlink(s.ctx, "../secret/key.txt", "/fs/blog/out")
	fs.Symlink(s.ctx, "/etc/passwd", "/fs/blog/abs")
	fs.Symlink(s.ctx, "sub/page.html", "/fs/blog/in")
	fs.Symlink(s.ctx, "../../../secret", "/fs/blog/sub/deep")
	s.sys.Commit(s.ctx)

	for _, p := range []string{"/../secret/key.txt", "/sub/../../secret/key.txt", "/%2e%2e/secret/key.txt"} {
		r := s.get("blog.example.com", p)
		if b := body(t, r); strings.Contains(b, "SECRET") {
			t.Errorf("%s leaked the secret", p)
		}
	}
	for _, p := range []string{"/out", "/abs", "/sub/deep/key.txt"} {
		want(t, s.get("blog.example.com", p), 404, "")
	}
	want(t, s.get("blog.example.com", "/in"), 200, "page")
	for _, raw := range []string{"/sub%2fpage.html", "/index.html%00.txt", "/sub%5cpage.html"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: blog.example.com\r\nConnection: close\r\n\r\n", raw)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", raw, resp.StatusCode)
		}
		conn.Close()
	}
}

func TestRedirectAndProxy(t *testing.T) {
	s := start(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "websocket" {
			conn, rw, _ := w.(http.Hijacker).Hijack()
			rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			rw.Flush()
			io.Copy(conn, conn) // echo
			return
		}
		fmt.Fprintf(w, "backend %s %s xff=%s xfh=%s xfp=%s", r.Method, r.URL.RequestURI(),
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto"))
	}))
	defer backend.Close()
	s.route("old.example.com", "redirect https://new.example.com/")
	s.route("api.example.com", "proxy "+backend.URL)
	s.route("down.example.com", "proxy http://127.0.0.1:1")

	r := s.get("old.example.com", "/a/b?x=1")
	if r.StatusCode != 301 || r.Header.Get("Location") != "https://new.example.com/a/b?x=1" {
		t.Fatalf("redirect: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := s.do(http.MethodPost, "old.example.com", "/form"); r.StatusCode != 308 {
		t.Fatalf("POST redirect: %d", r.StatusCode)
	}
	want(t, s.get("api.example.com", "/v1/items?q=2"), 200, "backend GET /v1/items?q=2 xff=127.0.0.1 xfh=api.example.com xfp=http")
	want(t, s.get("down.example.com", "/"), 502, "does not answer")

	// A WebSocket upgrade goes through.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: api.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	conn.Write([]byte("ping"))
	buf := make([]byte, 4)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the upgrade: %q %v", buf, err)
	}
}

// Changes apply to the next request: files and routes.
func TestChangesApplyAtOnce(t *testing.T) {
	s := start(t)
	s.write("/fs/v/index.html", "version 1")
	s.route("v.example.com", "v")
	want(t, s.get("v.example.com", "/"), 200, "version 1") // cached now
	s.write("/fs/v/index.html", "version 2")
	deadline := time.Now().Add(30 * time.Second) // generous: a loaded machine is slow, not wrong
	for !strings.Contains(body(t, s.get("v.example.com", "/")), "version 2") {
		if time.Now().After(deadline) {
			t.Fatal("a changed file is still served old after 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.write("/fs/w/index.html", "site w")
	s.route("v.example.com", "w")
	want(t, s.get("v.example.com", "/"), 200, "site w")
	if err := s.sys.Kernel.FS.Remove(s.ctx, "/net/routes/v.example.com"); err != nil {
		t.Fatal(err)
	}
	want(t, s.get("v.example.com", "/"), 404, "no site")

	// A directory is remembered as one; what is put in it shows at once,
	// and so does its replacement by a file.
	s.route("v.example.com", "v")
	s.write("/fs/v/docs/a.txt", "a")
	want(t, s.get("v.example.com", "/docs/"), 404, "")
	s.write("/fs/v/docs/index.html", "docs")
	want(t, s.get("v.example.com", "/docs/"), 200, "docs")
	if err := s.sys.Kernel.FS.RemoveAll(s.ctx, "/fs/v/docs"); err != nil {
		t.Fatal(err)
	}
	s.write("/fs/v/docs", "now a file")
	want(t, s.get("v.example.com", "/docs"), 200, "now a file")
}

// A large file streams from its chunks, with ranges.
func TestLargeFile(t *testing.T) {
	s := start(t)
	data := make([]byte, 5<<20)
	rand.New(rand.NewSource(1)).Read(data)
	s.write("/fs/big/file.bin", string(data))
	s.route("big.example.com", "big")
	r := s.get("big.example.com", "/file.bin")
	if b := want(t, r, 200, ""); b != string(data) || r.Header.Get("ETag") == "" {
		t.Fatalf("large file: %d bytes", len(b))
	}
	r = s.get("big.example.com", "/file.bin", "Range: bytes=3000000-3000009")
	if b := want(t, r, 206, ""); b != string(data[3000000:3000010]) {
		t.Fatal("range of a large file")
	}
}

// Visitors hammering sites while files are replaced and routes flip see no
// 5xx and no torn file: every response is one version, whole.
func TestChangesUnderLoad(t *testing.T) {
	s := start(t)
	page := func(v int) string { return strings.Repeat(fmt.Sprintf("v%03d;", v), 20_000) } // 120 KB
	s.write("/fs/a/index.html", page(0))
	s.write("/fs/b/index.html", page(500))
	s.route("load.example.com", "a")
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8}}
	stop := make(chan struct{})
	var requests, bad atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", s.base+"/", nil)
				req.Host = "load.example.com"
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				requests.Add(1)
				if resp.StatusCode >= 500 || resp.StatusCode == 200 && !bytes.Equal(b, bytes.Repeat(b[:5], len(b)/5)) {
					bad.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d, %d bytes", resp.StatusCode, len(b)))
					mu.Unlock()
				}
			}
		}()
	}
	// Two seconds of changes and at least 50 requests served meanwhile,
	// however slow the machine (within a minute).
	start := time.Now()
	for v := 1; (time.Since(start) < 2*time.Second || requests.Load() < 50) && time.Since(start) < time.Minute; v++ {
		// Replace the way deploys do: a new file renamed over.
		s.write("/fs/a/.index.html.tmp", page(v%500))
		if err := s.sys.Kernel.FS.Rename(s.ctx, "/fs/a/.index.html.tmp", "/fs/a/index.html"); err != nil {
			t.Fatal(err)
		}
		s.sys.Commit(s.ctx)
		if v%10 == 0 {
			s.route("load.example.com", map[bool]string{true: "a", false: "b"}[v%20 == 0])
		}
	}
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d bad responses of %d: %v", bad.Load(), requests.Load(), failures[:min(5, len(failures))])
	}
	if requests.Load() < 50 {
		t.Fatalf("only %d requests", requests.Load())
	}
	t.Logf("%d requests under changes, none bad", requests.Load())
}

// syncBuffer is a log destination written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A panic in a request handler is a 500 for that request, logged with its
// stack; the server goes on serving.
func TestHandlerPanicRecovered(t *testing.T) {
	ctx := context.Background()
	var log syncBuffer
	sys, err := proc.Boot(ctx, proc.Config{DataDir: t.TempDir(), Version: "v-http", LogOutput: &log})
	if err != nil {
		t.Fatal(err)
	}
	sys.Web().SetAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		m["boom"]++ // a nil map: a bug, not a crash
	}))
	if err := sys.Kernel.FS.WriteFile(ctx, "/net/http", []byte("127.0.0.1:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sys.OpenNet(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.CloseNet(time.Second); sys.Close() })
	s := &site{t: t, sys: sys, ctx: ctx, tr: &http.Transport{DisableCompression: true}}
	for _, l := range sys.Web().Status() {
		if v, ok := strings.CutPrefix(l, "http_addr "); ok {
			s.base = "http://" + v
		}
	}
	s.route("api.test", "@api")
	s.write("/fs/blog/index.html", "fine\n")
	s.route("blog.test", "blog")
	for range 3 {
		r := s.get("api.test", "/fs/")
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 500 || strings.Contains(string(b), "nil map") {
			t.Fatalf("panicking handler: %d %q", r.StatusCode, b)
		}
		r = s.get("blog.test", "/")
		b, _ = io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || string(b) != "fine\n" {
			t.Fatalf("after the panic: %d %q", r.StatusCode, b)
		}
	}
	if l := log.String(); !strings.Contains(l, "http: panic") || !strings.Contains(l, "nil map") || !strings.Contains(l, "stack=") {
		t.Fatalf("log:\n%s", l)
	}
}

// A compressible file too large for the cache gets its compressed forms
// too, made in the background: whole at first, then gzip and brotli, with
// their own ETags; ranges stay on the identity form.
func TestLargeFileCompressed(t *testing.T) {
	s := start(t)
	var b strings.Builder
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, "<tr><td>%d</td><td>row of a large index</td></tr>\n", i)
	}
	page := b.String()
	s.write("/fs/big/index.html", page)
	s.route("big.example.com", "big")
	r := s.get("big.example.com", "/", "Accept-Encoding: gzip, br")
	if r.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("the first answer has no Vary: %v", r.Header)
	}
	if r.Header.Get("Content-Encoding") == "" && body(t, r) != page {
		t.Fatal("the first answer, whole, differs")
	}
	r = s.waitEncoding("big.example.com", "/", "br")
	got, _ := io.ReadAll(brotli.NewReader(r.Body))
	if string(got) != page || !strings.HasSuffix(r.Header.Get("ETag"), `-br"`) {
		t.Fatalf("brotli form: %d bytes, ETag %s", len(got), r.Header.Get("ETag"))
	}
	if n, _ := strconv.Atoi(r.Header.Get("Content-Length")); n == 0 || n > len(page)/4 {
		t.Fatalf("brotli form of %d bytes for %d", n, len(page))
	}
	brTag := r.Header.Get("ETag")
	want(t, s.get("big.example.com", "/", "Accept-Encoding: br", "If-None-Match: "+brTag), 304, "")
	r = s.get("big.example.com", "/", "Accept-Encoding: gzip")
	zr, err := gzip.NewReader(r.Body)
	if err != nil || r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %v %v", err, r.Header)
	}
	if got, _ := io.ReadAll(zr); string(got) != page {
		t.Fatal("gzip form differs")
	}
	r = s.get("big.example.com", "/", "Accept-Encoding: gzip, br", "Range: bytes=100-199")
	if b := want(t, r, 206, ""); b != page[100:200] || r.Header.Get("Content-Encoding") != "" {
		t.Fatalf("a range of a large compressible file: %q %v", b, r.Header)
	}
	// New content: whole again until its own forms are made.
	s.write("/fs/big/index.html", page+"<p>more</p>\n")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		r := s.get("big.example.com", "/", "Accept-Encoding: gzip, br")
		if r.Header.Get("Content-Encoding") == "" {
			if body(t, r) != page+"<p>more</p>\n" {
				t.Fatal("after the change: the old content, whole")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old compressed form is still served a minute after the change")
		}
	}
}

// The store of materialized files is derived: files removed or cut short
// under a serving kernel are never sent; the answer comes from the
// database, and the store is made again.
func TestStoreDamagedUnderTheServer(t *testing.T) {
	s := start(t)
	var b strings.Builder
	for i := 0; b.Len() < 300<<10; i++ {
		fmt.Fprintf(&b, "<li>entry %d of a long page</li>\n", i)
	}
	page := b.String()
	bin := make([]byte, 300<<10)
	rand.New(rand.NewSource(2)).Read(bin)
	s.write("/fs/st/index.html", page)
	s.write("/fs/st/blob.bin", string(bin))
	s.route("st.example.com", "st")
	dir := filepath.Join(s.sys.DataDir, "cache", "http")

	// stored waits until the blob and the page's three forms are whole in
	// the store and nothing is being made.
	stored := func() {
		t.Helper()
		s.waitEncoding("st.example.com", "/", "br")
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			want(t, s.get("st.example.com", "/blob.bin"), 200, "")
			want(t, s.get("st.example.com", "/"), 200, "")
			whole := 0
			des, _ := os.ReadDir(dir)
			for _, de := range des {
				if fi, err := de.Info(); err == nil && !strings.HasPrefix(de.Name(), "tmp-") && fi.Size() > 10 {
					whole++
				}
			}
			if whole >= 4 && slices.Contains(s.sys.Web().Status(), "store_queued 0") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the files are not stored within a minute: %d whole, %v", whole, s.sys.Web().Status())
			}
		}
	}
	check := func(what string) {
		t.Helper()
		if got := want(t, s.get("st.example.com", "/blob.bin"), 200, ""); got != string(bin) {
			t.Fatalf("%s: the binary comes back as %d bytes that differ", what, len(got))
		}
		r := s.get("st.example.com", "/", "Accept-Encoding: gzip, br")
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "br" {
			rd = brotli.NewReader(r.Body)
		}
		if got, err := io.ReadAll(rd); err != nil || r.StatusCode != 200 || string(got) != page {
			t.Fatalf("%s: the page: %d, %d bytes (%v)", what, r.StatusCode, len(got), err)
		}
		if got := want(t, s.get("st.example.com", "/blob.bin", "Range: bytes=1000-1999"), 206, ""); got != string(bin[1000:2000]) {
			t.Fatalf("%s: a range of the binary differs", what)
		}
	}
	stored()
	check("stored")
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if err := os.Truncate(filepath.Join(dir, de.Name()), 10); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	check("cut short")
	// Nothing being made (the answers above queued the forms again).
	for deadline := time.Now().Add(time.Minute); !slices.Contains(s.sys.Web().Status(), "store_queued 0"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the store is still busy a minute after the damage")
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	check("removed")
	stored()
	check("stored again")
}
