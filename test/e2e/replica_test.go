package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/kernel"
)

// edge is a kernel following the primary's replica, with its own HTTP
// port.
type edge struct {
	*instance
	base string
}

// startEdge mounts a fresh data directory as an edge of the replica at
// url, listening on httpPort and httpsPort (see listenOn).
func startEdge(t *testing.T, url string, httpPort, httpsPort int) *edge {
	t.Helper()
	return listenOn(t, newInstance(t, "--follow", url), httpPort, httpsPort)
}

// listenOn moves in's listeners to httpPort (a free one if 0) and
// httpsPort (off if 0), the machine's own settings (writable on an edge
// too), and returns it as an edge served there.
func listenOn(t *testing.T, in *instance, httpPort, httpsPort int) *edge {
	t.Helper()
	if httpPort == 0 {
		httpPort = freePort(t)
	}
	https := "off"
	if httpsPort != 0 {
		https = fmt.Sprintf("127.0.0.1:%d", httpsPort)
	}
	sh(t, fmt.Sprintf("echo 127.0.0.1:%d > %s && echo %s > %s", httpPort, q(in.path("net/http")), https, q(in.path("net/https"))))
	return &edge{instance: in, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
}

// blogPrimary starts S3 and a primary serving blog.test (v0) on its own
// port, replicating to it and backed up; credentials for the edges come
// from the environment.
func blogPrimary(t *testing.T) (*s3Server, *instance) {
	t.Helper()
	s3 := startS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3Key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3Secret)
	primary := newInstance(t)
	sh(t, fmt.Sprintf("cd %s && echo 127.0.0.1:%d > net/http && echo off > net/https && mkdir fs/blog && echo v0 > fs/blog/index.html && echo blog > net/routes/blog.test",
		q(primary.mnt), freePort(t)))
	useS3(t, primary, s3, s3Secret)
	backup(t, primary)
	return s3, primary
}

// s3AndCA starts S3 (credentials in the environment) and Pebble, which
// validates on the two ports it returns (a follower's, as DNS pointing at
// it would have it) and whose root this process trusts.
func s3AndCA(t *testing.T) (s3 *s3Server, ca *acme, httpPort, httpsPort int) {
	t.Helper()
	s3 = startS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3Key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3Secret)
	httpPort, httpsPort = freePort(t), freePort(t)
	ca = startPebble(t, httpPort, httpsPort)
	t.Setenv("SSL_CERT_FILE", ca.caFile)
	return s3, ca, httpPort, httpsPort
}

// sameAsPrimary checks that the edge's database holds what the primary's
// does, and is whole.
func sameAsPrimary(t *testing.T, primary *instance, e *edge) {
	t.Helper()
	if p, f := dump(t, filepath.Join(primary.home, "fazt.db")), dump(t, filepath.Join(e.home, "fazt.db")); p != f {
		t.Fatalf("the edge's database differs from the primary's:\n%s", diffLines(p, f))
	}
	integrity(t, e.home)
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
	edges := []*edge{startEdge(t, url, 0, 0), startEdge(t, url, 0, 0)}
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
		if out, err := e.fazt("proc", "status"); err != nil || !strings.Contains(out, "edge, following s3://backups/fazt") {
			t.Fatalf("edge %d: fazt proc status: %v\n%s", i, err, out)
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
	for v := 1; v <= 25; v++ {
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
		if b, err := os.ReadFile(e.path("fs/blog/index.html")); err != nil || string(b) != "version 25\n" {
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

// Certificates on an edge: only the primary talks to the CA (Pebble), and
// the CA's HTTP-01 request reaches the edge (as DNS pointing at the edges
// would send it), which answers from the challenge data that came with
// the database; the certificate follows, and the edge serves it.
func TestEdgeAnswersTheChallenge(t *testing.T) {
	s3, ca, edgeHTTP, edgeHTTPS := s3AndCA(t)
	primary := newInstance(t)
	host := "edge.example.com"
	sh(t, fmt.Sprintf(`cd %s
echo 127.0.0.1:%d > net/http
echo 127.0.0.1:%d > net/https
echo "acme ca %s" > net/ctl
echo "acme challenges http-01" > net/ctl
mkdir -p fs/site
echo '<h1>from the edge</h1>' > fs/site/index.html`, q(primary.mnt), freePort(t), freePort(t), ca.dir))
	useS3(t, primary, s3, s3Secret)
	backup(t, primary)
	e := startEdge(t, s3.url("fazt"), edgeHTTP, edgeHTTPS)
	sh(t, fmt.Sprintf("cd %s && echo site > net/routes/%s && echo 'tls on' > net/ctl", q(primary.mnt), host))
	waitUntil(t, 120*time.Second, func() bool { return certStatus(primary, host)["not_after"] > "2" },
		func() string {
			return fmt.Sprintf("no certificate: %v\nprimary log:\n%s\nedge log:\n%s\npebble log:\n%s", certStatus(primary, host), primary.log(), e.log(), ca.log.String())
		})
	if !strings.Contains(ca.log.String(), fmt.Sprintf("Attempting to validate w/ HTTP: http://%s:%d/.well-known/acme-challenge/", host, edgeHTTP)) {
		t.Fatalf("pebble did not validate on the edge:\n%s", ca.log.String())
	}
	roots, _ := ca.roots(t)
	client := httpsClient(roots, edgeHTTP, edgeHTTPS)
	waitUntil(t, 60*time.Second, func() bool {
		resp, err := client.Get(fmt.Sprintf("https://%s:%d/", host, edgeHTTPS))
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200 && string(body) == "<h1>from the edge</h1>\n"
	}, func() string { return "the edge does not serve the certificate over HTTPS\nedge log:\n" + e.log() })
	pb, _ := os.ReadFile(primary.path("net/certs/" + host + "/cert.pem"))
	eb, err := os.ReadFile(e.path("net/certs/" + host + "/cert.pem"))
	if err != nil || string(pb) != string(eb) || len(pb) == 0 {
		t.Fatalf("the edge's cert.pem differs from the primary's: %v", err)
	}
	// TLS-ALPN-01 too: the edge's HTTPS listener answers the CA's
	// acme-tls/1 handshake with the challenge certificate built from the
	// replicated data.
	alpn := "alpn.edge.example.com"
	sh(t, fmt.Sprintf("cd %s && echo 'acme challenges tls-alpn-01' > net/ctl && echo site > net/routes/%s", q(primary.mnt), alpn))
	waitUntil(t, 120*time.Second, func() bool { return certStatus(primary, alpn)["not_after"] > "2" },
		func() string {
			return fmt.Sprintf("no certificate: %v\nedge log:\n%s\npebble log:\n%s", certStatus(primary, alpn), e.log(), ca.log.String())
		})
	if strings.Contains(ca.log.String(), "http://"+alpn) {
		t.Fatalf("%s was validated over HTTP, not TLS-ALPN:\n%s", alpn, ca.log.String())
	}
	// Renewing is the primary's: the edge refuses.
	if out, err := e.fazt("net", "cert", "renew", host); err == nil || !strings.Contains(out, "primary") {
		t.Fatalf("cert renew on an edge: %v\n%s", err, out)
	}
}

// An edge killed (SIGKILL) again and again while the primary keeps
// writing comes back each time (its supervisor restarts it, still
// following), and ends with the primary's database, row for row, intact.
func TestEdgeComesBackFromKills(t *testing.T) {
	s3, primary := blogPrimary(t)
	e := startEdge(t, s3.url("fazt"), 0, 0)

	// The primary writes steadily (bounded in count and time) while the
	// edge is killed at moments of no particular kind.
	const writes = 150
	done := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(2 * time.Minute)
		for i := 1; i <= writes && time.Now().Before(deadline); i++ {
			if err := os.WriteFile(primary.path(fmt.Sprintf("fs/blog/f%d.txt", i)), []byte(strings.Repeat("x", i*100)), 0o644); err != nil {
				done <- err
				return
			}
			if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte(fmt.Sprintf("v%d\n", i)), 0o644); err != nil {
				done <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		done <- nil
	}()
	for round := 0; round < 5; round++ {
		time.Sleep(time.Duration(200+round*250) * time.Millisecond)
		old := e.pid()
		if old == 0 {
			t.Fatalf("round %d: no edge kernel\n%s", round, e.log())
		}
		syscall.Kill(old, syscall.SIGKILL)
		waitUntil(t, 2*time.Minute, func() bool {
			pid := e.pid()
			if pid == 0 || pid == old {
				return false
			}
			_, err := os.ReadFile(e.path("proc/version"))
			return err == nil
		}, func() string { return fmt.Sprintf("round %d: the edge did not come back:\n%s", round, e.log()) })
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Everything the primary committed on the replica, then on the edge.
	target := backup(t, primary)
	waitUntil(t, 2*time.Minute, func() bool {
		n, _ := strconv.ParseUint(keyValues(t, e.path("driver/litestream/status"))["applied_txid"], 10, 64)
		return n >= target
	}, func() string {
		b, _ := os.ReadFile(e.path("driver/litestream/status"))
		return fmt.Sprintf("the edge did not reach transaction %d:\n%s\nlog:\n%s", target, b, e.log())
	})
	if _, got := get(e.base, "blog.test", "/"); got != fmt.Sprintf("v%d\n", writes) {
		t.Fatalf("the edge serves %q after the kills", got)
	}
	sameAsPrimary(t, primary, e)
}

// An edge whose disk fills: a transaction that does not fit is refused
// (the follower says why in its status) and changes nothing, the edge
// serves what it had, and once space is freed it catches up, byte for
// byte, without a restart.
func TestEdgeOnAFullDisk(t *testing.T) {
	s3, primary := blogPrimary(t)

	in, small := smallDisk(t, 48, "--follow", s3.url("fazt"))
	e := listenOn(t, in, 0, 0)
	serves(t, e, "v0\n")

	// Leave the edge 3 MiB, then send it a transaction of 8.
	ballast := filepath.Join(small, "ballast")
	if out, err := exec.Command("fallocate", "-l", strconv.FormatInt(diskFree(t, small)-3<<20, 10), ballast).CombinedOutput(); err != nil {
		t.Fatalf("fallocate: %v %s", err, out)
	}
	big := make([]byte, 8<<20)
	rand.Read(big)
	if err := os.WriteFile(primary.path("fs/blog/big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := backup(t, primary)
	status := func() map[string]string { return keyValues(t, e.path("driver/litestream/status")) }
	waitUntil(t, 2*time.Minute, func() bool { return status()["last_error"] != "-" }, func() string {
		return fmt.Sprintf("the full edge says nothing:\n%v\nlog:\n%s", status(), e.log())
	})
	st := status()
	t.Logf("the full edge: last_error %s", st["last_error"])
	if n, _ := strconv.ParseUint(st["applied_txid"], 10, 64); n >= target {
		t.Fatalf("the full edge applied transaction %d of %d", n, target)
	}
	if code, got := get(e.base, "blog.test", "/"); code != 200 || got != "v0\n" {
		t.Fatalf("the full edge serves %d %q, want what it had", code, got)
	}
	integrity(t, e.home)

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	serves(t, e, "v1\n")
	if code, got := get(e.base, "blog.test", "/big.bin"); code != 200 || got != string(big) {
		t.Fatalf("after space was freed, big.bin: %d, %d bytes", code, len(got))
	}
	waitUntil(t, time.Minute, func() bool { return status()["last_error"] == "-" }, func() string {
		return fmt.Sprintf("the edge still reports an error:\n%v", status())
	})
	sameAsPrimary(t, primary, e)
}

// Tokens minted on the primary are the edges' too, remotely, with the
// same limits: a scoped token reads its scope only and writes nothing an
// edge owns (its listeners, /driver, /proc); a token that may write is
// told the edge is not the primary (409, naming the replica). Revoking a
// token or rotating the key on the primary reaches the edges within
// seconds, and a token minted after a rotation works on them.
func TestTokensOnAnEdge(t *testing.T) {
	s3 := startS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3Key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3Secret)
	primary := newInstance(t)
	remoteSetup(t, primary)
	useS3(t, primary, s3, s3Secret)
	readID, readTok := mint(t, primary, "reader", "read:/fs/blog")
	_, writeTok := mint(t, primary, "writer", "write:/fs/blog")
	backup(t, primary)
	e := startEdge(t, s3.url("fazt"), 0, 0)
	ctx := context.Background()
	client := &http.Client{Timeout: 10 * time.Second}
	reader, writer := api.Remote(e.base, readTok, client), api.Remote(e.base, writeTok, client)
	read := func(c *api.Client, p string) (string, error) {
		rc, err := c.Open(ctx, p)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	write := func(c *api.Client, p, v string) error {
		w := c.Create(ctx, p, 0o644)
		if _, err := io.WriteString(w, v); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	}
	waitUntil(t, time.Minute, func() bool { got, err := read(reader, "/fs/blog/index.html"); return err == nil && got == "hello\n" },
		func() string {
			_, err := read(reader, "/fs/blog/index.html")
			return fmt.Sprintf("the reader on the edge: %v", err)
		})
	if _, err := read(reader, "/fs/other/secret.txt"); kernel.KindOf(err) != kernel.NotExist {
		t.Errorf("the reader outside its scope on the edge: %v", err)
	}
	httpBefore := sh(t, "cat "+q(e.path("net/http")))
	for _, p := range []string{"/fs/blog/new.txt", "/net/http", "/net/https", "/driver/litestream/follow", "/proc/ctl", "/storage/ctl"} {
		if err := write(reader, p, "127.0.0.1:1\n"); err == nil {
			t.Errorf("the reader wrote %s on the edge", p)
		}
	}
	if got := sh(t, "cat "+q(e.path("net/http"))); got != httpBefore {
		t.Fatalf("the edge's listener changed under a reader's token: %q, was %q", got, httpBefore)
	}
	err := write(writer, "/fs/blog/new.txt", "x\n")
	if kernel.KindOf(err) != kernel.NotPrimary || !strings.Contains(err.Error(), s3.url("fazt")) {
		t.Errorf("a writer on the edge: %v (kind %v), want NotPrimary naming the replica", err, kernel.KindOf(err))
	}
	if err := write(writer, "/net/http", "127.0.0.1:1\n"); err == nil {
		t.Error("a token scoped to /fs/blog wrote the edge's listener")
	}

	// Revoked on the primary: refused on the edge.
	sh(t, "rm "+q(primary.path("security/tokens/"+readID)))
	waitUntil(t, time.Minute, func() bool {
		_, err := read(reader, "/fs/blog/index.html")
		return kernel.KindOf(err) == kernel.Permission
	},
		func() string {
			_, err := read(reader, "/fs/blog/index.html")
			return fmt.Sprintf("the revoked token on the edge: %v", err)
		})

	// Rotated on the primary: the old key's tokens are void on the edge,
	// and one minted after works there.
	if _, err := read(writer, "/fs/blog/index.html"); err != nil {
		t.Fatalf("the writer reads on the edge: %v", err)
	}
	sh(t, "echo rotate > "+q(primary.path("security/ctl")))
	_, freshTok := mint(t, primary, "after-rotation", "read:/fs/blog")
	fresh := api.Remote(e.base, freshTok, client)
	waitUntil(t, time.Minute, func() bool { got, err := read(fresh, "/fs/blog/index.html"); return err == nil && got == "hello\n" },
		func() string {
			_, err := read(fresh, "/fs/blog/index.html")
			return fmt.Sprintf("a token minted after a rotation, on the edge: %v\n%s", err, e.log())
		})
	if _, err := read(writer, "/fs/blog/index.html"); kernel.KindOf(err) != kernel.Permission {
		t.Errorf("a token of the rotated key on the edge: %v", err)
	}
}
