package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// edge is a kernel following the primary's replica, with its own HTTP
// port.
type edge struct {
	*instance
	base string
}

// startEdge mounts a fresh data directory as an edge of the replica at
// url and moves its listeners to a free port (HTTPS off): the machine's
// own settings, writable on an edge.
func startEdge(t *testing.T, url string) *edge {
	t.Helper()
	in := newInstance(t, "--follow", url)
	port := freePort(t)
	sh(t, fmt.Sprintf("echo 127.0.0.1:%d > %s && echo off > %s", port, q(in.path("net/http")), q(in.path("net/https"))))
	return &edge{instance: in, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

// get fetches path from base as host; status 0 if the request failed.
func get(base, host, path string) (int, string) {
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Host = host
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A primary replicating to S3 (versitygw) and two edges following it, as
// separate processes on their own ports: the edges serve the primary's
// sites byte for byte, pick up deploys and routes within seconds without
// a restart, refuse writes to what the primary owns and keep their own
// listeners.
func TestEdgesFollowThePrimary(t *testing.T) {
	s3 := startS3(t)
	// The edges' credentials come from their environment, as a new
	// machine's would.
	t.Setenv("AWS_ACCESS_KEY_ID", s3Key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3Secret)
	primary := newInstance(t)
	pport := freePort(t)
	page := "<!doctype html><title>blog</title>" + strings.Repeat("<p>words</p>", 100) + "\n"
	sh(t, fmt.Sprintf(`cd %s
echo 127.0.0.1:%d > net/http
echo off > net/https
mkdir fs/blog
printf %%s %s > fs/blog/index.html
head -c 300000 /dev/urandom > fs/blog/big.bin
echo blog > net/routes/blog.test`, q(primary.mnt), pport, q(page)))
	useS3(t, primary, s3, s3Secret)
	backup(t, primary)
	url := s3.url("fazt")
	edges := []*edge{startEdge(t, url), startEdge(t, url)}
	big, err := os.ReadFile(primary.path("fs/blog/big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range edges {
		if code, body := get(e.base, "blog.test", "/"); code != 200 || body != page {
			t.Fatalf("edge %d: GET /: %d %q\nlog:\n%s", i, code, body, e.log())
		}
		if code, body := get(e.base, "blog.test", "/big.bin"); code != 200 || body != string(big) {
			t.Fatalf("edge %d: big.bin: %d, %d bytes, want %d", i, code, len(body), len(big))
		}
		st := keyValues(t, e.path("proc/status"))
		if st["role"] != "edge" || !strings.Contains(st["replica"], "s3://backups/fazt") || st["driver_litestream"] != "following" {
			t.Fatalf("edge %d: /proc/status: role %q replica %q driver %q", i, st["role"], st["replica"], st["driver_litestream"])
		}
	}

	// Deploys: each version written on the primary is served by both
	// edges, within a generous deadline; the lag is reported, not
	// asserted (make bench-replica measures it).
	var lags []time.Duration
	for v := 1; v <= 10; v++ {
		body := fmt.Sprintf("version %d\n", v)
		if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for i, e := range edges {
			waitUntil(t, 60*time.Second, func() bool {
				_, got := get(e.base, "blog.test", "/")
				return got == body
			}, func() string {
				_, got := get(e.base, "blog.test", "/")
				b, _ := os.ReadFile(e.path("driver/litestream/status"))
				return fmt.Sprintf("edge %d serves %q, not %q\nstatus:\n%s\nlog:\n%s", i, got, body, b, e.log())
			})
			lags = append(lags, time.Since(start))
		}
	}
	slices.Sort(lags)
	t.Logf("write on the primary to served by an edge: median %v, max %v (%d)", lags[len(lags)/2], lags[len(lags)-1], len(lags))

	// A route added, one removed; the mount shows them, the sites follow.
	sh(t, fmt.Sprintf("echo blog > %s && rm %s", q(primary.path("net/routes/news.test")), q(primary.path("net/routes/blog.test"))))
	for i, e := range edges {
		waitUntil(t, 60*time.Second, func() bool {
			c1, _ := get(e.base, "news.test", "/")
			c2, _ := get(e.base, "blog.test", "/")
			return c1 == 200 && c2 == 404
		}, func() string { return fmt.Sprintf("edge %d: the route change did not arrive\nlog:\n%s", i, e.log()) })
		waitUntil(t, 30*time.Second, func() bool {
			ents, _ := os.ReadDir(e.path("net/routes"))
			return len(ents) == 1 && ents[0].Name() == "news.test"
		}, func() string {
			ents, err := os.ReadDir(e.path("net/routes"))
			return fmt.Sprintf("edge %d: the mount lists %v (%v)", i, ents, err)
		})
		if b, err := os.ReadFile(e.path("fs/blog/index.html")); err != nil || string(b) != "version 10\n" {
			t.Fatalf("edge %d: the mount reads %q, %v", i, b, err)
		}
	}

	// Writes to what the primary owns are refused: through the mount
	// (EROFS, the reason naming the replica), the CLI.
	e := edges[0]
	for _, p := range []string{"fs/blog/new.html", "net/routes/x.test"} {
		err := os.WriteFile(e.path(p), []byte("blog\n"), 0o644)
		if !errors.Is(err, syscall.EROFS) {
			t.Fatalf("write %s on an edge: %v, want EROFS", p, err)
		}
	}
	if err := os.Remove(e.path("fs/blog/index.html")); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("rm on an edge: %v, want EROFS", err)
	}
	out, err := e.fazt("fs", "mkdir", "/fs/other")
	if err == nil || !strings.Contains(out, "follower of s3://backups/fazt") {
		t.Fatalf("fazt fs mkdir on an edge: %v\n%s", err, out)
	}
	if out, err := e.fazt("storage", "backup"); err == nil || !strings.Contains(out, "primary") {
		t.Fatalf("a backup on an edge: %v\n%s", err, out)
	}
	if _, err := os.Stat(primary.path("fs/other")); err == nil {
		t.Fatal("the edge's refused mkdir reached the primary")
	}

	// An edge restarted follows on without --follow, from where it was.
	sh(t, fmt.Sprintf("echo stop > %s", q(e.path("proc/ctl"))))
	waitUntil(t, 30*time.Second, func() bool { return e.pid() == 0 }, func() string { return "the edge did not stop" })
	e.mount()
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("after the restart\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, func() bool {
		_, got := get(e.base, "news.test", "/")
		return got == "after the restart\n"
	}, func() string { return "the restarted edge does not follow\nlog:\n" + e.log() })
	if b, _ := os.ReadFile(filepath.Join(e.home, "node.json")); !strings.Contains(string(b), "s3://backups/fazt") {
		t.Fatalf("node.json does not say what the edge follows:\n%s", b)
	}
	integrity(t, e.home)
}
