package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A site deployed with rsync through the mount, routed with echo, and
// fetched with curl: caching, ranges, compression, redirects, a proxy,
// path escapes.
func TestServeWithCurl(t *testing.T) {
	in := newInstance(t)
	port := freePort(t)
	src := t.TempDir()
	page := "<!doctype html><title>blog</title>" + strings.Repeat("<p>compressible words</p>", 200) + "\n"
	os.MkdirAll(filepath.Join(src, "css"), 0o755)
	os.WriteFile(filepath.Join(src, "index.html"), []byte(page), 0o644)
	os.WriteFile(filepath.Join(src, "css", "app.3f9a2c1b.css"), []byte("body{color:red}\n"), 0o644)
	os.WriteFile(filepath.Join(src, "404.html"), []byte("<h1>lost</h1>\n"), 0o644)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend %s host=%s fwd=%s\n", r.URL.Path, r.Host, r.Header.Get("X-Forwarded-Host"))
	}))
	t.Cleanup(backend.Close)
	sh(t, fmt.Sprintf(`cd %s
echo 127.0.0.1:%d > net/http
mkdir fs/blog
rsync -a %s/ fs/blog/
echo blog > net/routes/blog.test
echo "redirect https://blog.test/" > net/routes/www.blog.test
echo "proxy %s" > net/routes/app.test`, q(in.mnt), port, q(src), backend.URL))

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	curl := func(host string, args string) string {
		t.Helper()
		return sh(t, fmt.Sprintf("curl -sS --max-time 10 -H %s %s", q("Host: "+host), args))
	}
	header := func(head, name string) string {
		m := regexp.MustCompile(`(?im)^` + name + `: (.*?)\r?$`).FindStringSubmatch(head)
		if m == nil {
			return ""
		}
		return m[1]
	}

	head := curl("blog.test", "-D - -o /dev/null "+base+"/")
	etag := header(head, "ETag")
	if !strings.HasPrefix(head, "HTTP/1.1 200") || etag == "" || !strings.Contains(header(head, "Content-Type"), "text/html") ||
		!strings.Contains(header(head, "Cache-Control"), "no-cache") {
		t.Fatalf("GET /:\n%s", head)
	}
	if got := curl("blog.test", base+"/"); got != page {
		t.Fatalf("body: %q", got)
	}
	// Revalidation, a range, compression (curl decodes it).
	if code := curl("blog.test", "-o /dev/null -w %{http_code} -H "+q("If-None-Match: "+etag)+" "+base+"/"); code != "304" {
		t.Fatalf("If-None-Match: %s", code)
	}
	if got := curl("blog.test", "-r 15-19 -w ' %{http_code}' "+base+"/"); got != "<titl 206" {
		t.Fatalf("range: %q", got)
	}
	for _, enc := range []string{"gzip", "br"} {
		head := curl("blog.test", "-D - -o /dev/null -H "+q("Accept-Encoding: "+enc)+" "+base+"/")
		if header(head, "Content-Encoding") != enc || header(head, "Vary") != "Accept-Encoding" {
			t.Fatalf("%s:\n%s", enc, head)
		}
	}
	if got := curl("blog.test", "--compressed "+base+"/"); got != page {
		t.Fatal("compressed body differs")
	}
	// Hashed assets are immutable; missing paths get the site's 404.html.
	if cc := header(curl("blog.test", "-D - -o /dev/null "+base+"/css/app.3f9a2c1b.css"), "Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Fatalf("hashed asset: %q", cc)
	}
	if got := curl("blog.test", "-w ' %{http_code}' "+base+"/nope"); got != "<h1>lost</h1>\n 404" {
		t.Fatalf("404: %q", got)
	}
	// Escapes stay inside the site.
	for _, p := range []string{"/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/css/..%2f..%2fetc/passwd", "/.fazt/spa", "/a%00b"} {
		out := curl("blog.test", "--path-as-is -w ' %{http_code}' "+base+p)
		if strings.Contains(out, "root:") || !(strings.HasSuffix(out, " 404") || strings.HasSuffix(out, " 400")) {
			t.Fatalf("%s: %q", p, out)
		}
	}
	// A redirect keeps the path; a proxy forwards; an unknown host is a 404.
	if head := curl("www.blog.test", "-D - -o /dev/null "+base+"/a?b=1"); !strings.HasPrefix(head, "HTTP/1.1 301") || header(head, "Location") != "https://blog.test/a?b=1" {
		t.Fatalf("redirect:\n%s", head)
	}
	if got := curl("app.test", base+"/x"); got != "backend /x host="+strings.TrimPrefix(backend.URL, "http://")+" fwd=app.test\n" {
		t.Fatalf("proxy: %q", got)
	}
	if got := curl("nobody.test", "-w ' %{http_code}' "+base+"/"); !strings.HasSuffix(got, " 404") || !strings.Contains(got, "no site is configured for nobody.test") {
		t.Fatalf("unknown host: %q", got)
	}
	// A change through the mount is served at once.
	sh(t, "echo v2 > "+q(in.path("fs/blog/index.html")))
	waitUntil(t, 60*time.Second, func() bool { return curl("blog.test", base+"/") == "v2\n" }, func() string { return curl("blog.test", base+"/") })
}
