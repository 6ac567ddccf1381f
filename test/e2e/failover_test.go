package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// failoverTTL is the primary's lease in these tests: a standby takes over
// about this long (plus a sixth) after the primary stops.
const failoverTTL = "6s"

// primaryAndStandby starts S3, a primary serving blog.test on its own
// port and replicating to it under a short lease (held), and a standby of
// it; credentials come from the environment.
func primaryAndStandby(t *testing.T) (s *s3Server, primary *instance, url string, standby *edge) {
	t.Helper()
	return primaryAndStandbyOf(t, faztBin, faztBin)
}

// primaryAndStandbyOf is primaryAndStandby with the binaries each runs.
func primaryAndStandbyOf(t *testing.T, primaryBin, standbyBin string) (s *s3Server, primary *instance, url string, standby *edge) {
	t.Helper()
	s = startS3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3Key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3Secret)
	primary = newInstanceOf(t, primaryBin)
	sh(t, fmt.Sprintf("cd %s && echo 127.0.0.1:%d > net/http && echo off > net/https && mkdir fs/blog && echo v0 > fs/blog/index.html && echo blog > net/routes/blog.test && echo %s > driver/litestream/lease_ttl",
		q(primary.mnt), freePort(t), failoverTTL))
	useS3(t, primary, s, s3Secret)
	waitStatus(t, primary, "lease", "holding")
	backup(t, primary)
	url = s.url("fazt")
	return s, primary, url, startFollowerOf(t, standbyBin, url, "--standby")
}

// startStandby is startEdge with --standby.
func startStandby(t *testing.T, url string) *edge {
	t.Helper()
	return startFollowerOf(t, faztBin, url, "--standby")
}

// startFollowerOf mounts a fresh data directory running bin as a follower
// of url (flags: --standby, or none for an edge) on a free HTTP port,
// HTTPS off.
func startFollowerOf(t *testing.T, bin, url string, flags ...string) *edge {
	t.Helper()
	return listenOn(t, newInstanceOf(t, bin, append([]string{"--follow", url}, flags...)...), 0, 0)
}

// nodeSetting is one of in's machine settings (node.json).
func nodeSetting(t *testing.T, in *instance, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(in.home, "node.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]struct{ Value string }
	if err := json.Unmarshal(b, &vals); err != nil {
		t.Fatalf("node.json: %v\n%s", err, b)
	}
	return vals[key].Value
}

func nodeID(t *testing.T, in *instance) string {
	t.Helper()
	id := nodeSetting(t, in, "node.id")
	if id == "" {
		t.Fatal("no node.id in node.json")
	}
	return id
}

// serves waits until e serves body for blog.test.
func serves(t *testing.T, e *edge, body string) {
	t.Helper()
	waitUntil(t, 90*time.Second, func() bool {
		_, got := get(e.base, "blog.test", "/")
		return got == body
	}, func() string {
		_, got := get(e.base, "blog.test", "/")
		b, _ := os.ReadFile(e.path("driver/litestream/status"))
		return fmt.Sprintf("%s serves %q, not %q\nstatus:\n%s\nlog:\n%s", e.home, got, body, b, e.log())
	})
}

// becomesPrimary waits until the standby has taken over and takes a
// write, and returns when that happened.
func becomesPrimary(t *testing.T, s *edge, body string) time.Time {
	t.Helper()
	waitUntil(t, 2*time.Minute, func() bool {
		return os.WriteFile(s.path("fs/blog/index.html"), []byte(body), 0o644) == nil
	}, func() string {
		b, _ := os.ReadFile(s.path("proc/status"))
		return fmt.Sprintf("the standby did not take writes:\n%s\nlog:\n%s", b, s.log())
	})
	return time.Now()
}

// A primary killed with kill -9: the standby takes its lease when it
// expires, becomes the primary (writes, replication, status), a deploy on
// it reaches the edge; the old primary, started again, finds it lost the
// lease and refuses writes, and the replica gets nothing from it.
func TestStandbyTakesOver(t *testing.T) {
	_, primary, url, standby := primaryAndStandby(t)
	e := startEdge(t, url, 0, 0)
	pid := nodeID(t, primary)
	st := keyValues(t, standby.path("proc/status"))
	if st["role"] != "standby" || st["lease_owner"] != pid || st["lease_generation"] != "1" {
		t.Fatalf("the standby's /proc/status: role %q lease_owner %q (want %q) generation %q", st["role"], st["lease_owner"], pid, st["lease_generation"])
	}
	if out, _ := standby.fazt("proc", "status"); !strings.Contains(out, "standby, following s3://backups/fazt") || !strings.Contains(out, "the primary's lease: "+pid) {
		t.Fatalf("fazt proc status on the standby:\n%s", out)
	}
	if out, err := standby.fazt("fs", "mkdir", "/fs/other"); err == nil || !strings.Contains(out, "follower of") {
		t.Fatalf("a write on the standby before it takes over: %v\n%s", err, out)
	}
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serves(t, standby, "v1\n")
	serves(t, e, "v1\n")

	primary.crash()
	died := time.Now()
	took := becomesPrimary(t, standby, "after failover\n")
	t.Logf("primary killed -> standby took a write: %v (lease %s)", took.Sub(died).Round(time.Millisecond), failoverTTL)
	st = keyValues(t, standby.path("proc/status"))
	sid := nodeID(t, standby.instance)
	if st["role"] != "primary" || st["lease"] != "holding" || st["lease_owner"] != sid || st["lease_generation"] != "2" {
		t.Fatalf("after the take-over, /proc/status: role %q lease %q owner %q (want %q) generation %q", st["role"], st["lease"], st["lease_owner"], sid, st["lease_generation"])
	}
	// The deploy after the failover reaches the edge; so do routes.
	serves(t, e, "after failover\n")
	sh(t, "echo blog > "+q(standby.path("net/routes/news.test")))
	waitUntil(t, 90*time.Second, func() bool { c, _ := get(e.base, "news.test", "/"); return c == 200 },
		func() string { return "the new primary's route did not reach the edge\n" + e.log() })
	// A restart of the new primary keeps it the primary.
	if f, sb := nodeSetting(t, standby.instance, "node.follows"), nodeSetting(t, standby.instance, "node.standby"); f != "" || sb != "" {
		t.Fatalf("node.json still says the standby follows %q (standby %q)", f, sb)
	}

	// The old primary comes back: deposed, it refuses writes, and the
	// replica's history is the standby's.
	primary.mount()
	waitUntil(t, time.Minute, func() bool { return keyValues(t, primary.path("proc/status"))["role"] == "deposed" },
		func() string {
			b, _ := os.ReadFile(primary.path("proc/status"))
			return "the old primary is not deposed:\n" + string(b) + "\nlog:\n" + primary.log()
		})
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("fork\n"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("a write on the deposed primary: %v, want EROFS", err)
	}
	if out, _ := primary.fazt("proc", "status"); !strings.Contains(out, "no longer the primary: "+sid) {
		t.Fatalf("fazt proc status on the deposed primary:\n%s", out)
	}
	if out, err := primary.fazt("fs", "mkdir", "/fs/fork"); err == nil || !strings.Contains(out, "no longer the primary") || !strings.Contains(out, sid) {
		t.Fatalf("fazt fs mkdir on the deposed primary: %v\n%s", err, out)
	}
	if err := os.WriteFile(standby.path("fs/blog/index.html"), []byte("v3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serves(t, e, "v3\n")
	target := backup(t, standby.instance)
	waitUntil(t, 90*time.Second, func() bool {
		n, _ := strconv.ParseUint(keyValues(t, e.path("driver/litestream/status"))["applied_txid"], 10, 64)
		return n >= target
	}, func() string { return fmt.Sprintf("the edge did not reach %d\n%s", target, e.log()) })
	if s, f := dump(t, filepath.Join(standby.home, "fazt.db")), dump(t, filepath.Join(e.home, "fazt.db")); s != f {
		t.Fatalf("the edge's database differs from the new primary's:\n%s", diffLines(s, f))
	}
	integrity(t, standby.home)
	integrity(t, e.home)

	// The deposed machine made one of its own (its replica removed):
	// it takes writes again, and the replica does not hear of them.
	if err := os.Remove(primary.path("driver/litestream/replicas/offsite")); err != nil {
		t.Fatalf("removing the deposed machine's replica: %v", err)
	}
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("alone\n"), 0o644); err != nil {
		t.Fatalf("a write on the machine without its replica: %v", err)
	}
	if st := keyValues(t, primary.path("proc/status")); st["role"] != "primary" || st["replica"] != "-" {
		t.Fatalf("after the replica's removal: role %q replica %q", st["role"], st["replica"])
	}
	time.Sleep(2 * time.Second)
	if _, got := get(e.base, "blog.test", "/"); got != "v3\n" {
		t.Fatalf("the edge serves %q: the lone machine's write reached the replica", got)
	}
}

// replicaFiles is the replica's objects (but the lease) with their sums.
func replicaFiles(t *testing.T, s *s3Server) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(s.dir, "backups", "fazt")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || d.Name() == "lock.json" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, root)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// signal sends sig to in's kernel, its Litestream child and its
// supervisor: the whole machine paused or resumed.
func signalAll(in *instance, sig syscall.Signal) {
	for _, p := range append(in.kernelProcs(), in.supervisors()...) {
		if pid, _ := strconv.Atoi(p); pid > 0 {
			syscall.Kill(pid, sig)
		}
	}
}

// Split brain: the primary (kernel, child, supervisor) paused with
// SIGSTOP past its lease while it was writing; the standby takes over and
// writes; the old primary's uploader resumed (its kernel still paused,
// then too) writes nothing more to the replica, and the old primary is
// deposed.
func TestPausedPrimaryDoesNotFork(t *testing.T) {
	s3, primary, _, standby := primaryAndStandby(t)
	serves(t, standby, "v0\n")

	// Writing while it is paused: the writer is frozen mid-stream.
	stopWriting := make(chan struct{})
	wrote := make(chan int, 1)
	go func() {
		n := 0
		defer func() { wrote <- n }()
		for i := 0; i < 2000; i++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			if os.WriteFile(primary.path("fs/blog/index.html"), []byte(fmt.Sprintf("p%d\n", i)), 0o644) == nil {
				n++
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	signalAll(primary, syscall.SIGSTOP)
	t.Cleanup(func() { signalAll(primary, syscall.SIGCONT) })
	paused := time.Now()

	took := becomesPrimary(t, standby, "the standby's\n")
	t.Logf("primary paused -> standby took a write: %v", took.Sub(paused).Round(time.Millisecond))
	target := backup(t, standby.instance)
	// The new primary paused in turn, so that nothing but the old one
	// could change the replica (its compactions would).
	signalAll(standby.instance, syscall.SIGSTOP)
	t.Cleanup(func() { signalAll(standby.instance, syscall.SIGCONT) })
	before := replicaFiles(t, s3)
	unchanged := func(when string) {
		t.Helper()
		after := replicaFiles(t, s3)
		for k, v := range after {
			if before[k] != v {
				t.Errorf("%s: the replica's %s changed\nlog:\n%s", when, k, primary.log())
			}
		}
		for k := range before {
			if _, ok := after[k]; !ok {
				t.Errorf("%s: the replica's %s went away", when, k)
			}
		}
	}

	// The old primary's uploader first, its kernel still paused: it holds
	// the last writes it had not sent, and the lease it had is over.
	kernel := strconv.Itoa(primary.pid())
	for _, p := range primary.kernelProcs() {
		if n, _ := strconv.Atoi(p); n > 0 && p != kernel {
			syscall.Kill(n, syscall.SIGCONT)
		}
	}
	time.Sleep(4 * time.Second)
	unchanged("the old primary's uploader resumed")

	signalAll(primary, syscall.SIGCONT)
	close(stopWriting)
	t.Logf("the primary's writer managed %d writes", <-wrote)
	waitUntil(t, time.Minute, func() bool { return keyValues(t, primary.path("proc/status"))["role"] == "deposed" },
		func() string {
			b, _ := os.ReadFile(primary.path("proc/status"))
			return "the resumed primary is not deposed:\n" + string(b) + "\nlog:\n" + primary.log()
		})
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("fork\n"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("a write on the resumed primary: %v, want EROFS", err)
	}
	// Several of its renewal periods, and past the paused new primary's
	// lease: nothing of the old one's reaches the replica.
	time.Sleep(8 * time.Second)
	unchanged("the old primary resumed")
	if !strings.Contains(primary.log(), "deposed") {
		t.Errorf("the old primary's log does not say it was deposed:\n%s", primary.log())
	}
	if st := keyValues(t, primary.path("proc/status")); st["role"] != "deposed" {
		t.Fatalf("the old primary took the lease the paused new one let expire: %v", st)
	}

	// The new primary resumed renews its lease (nobody took it) and
	// goes on writing.
	signalAll(standby.instance, syscall.SIGCONT)
	if err := os.WriteFile(standby.path("fs/blog/index.html"), []byte("resumed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next := backup(t, standby.instance)
	if st := keyValues(t, standby.path("proc/status")); st["role"] != "primary" || st["lease"] != "holding" || st["lease_generation"] != "2" || next <= target {
		t.Fatalf("the resumed new primary: %v (backup %d after %d)\n%s", st, next, target, standby.log())
	}
	target = next

	// The replica restores to the standby's history.
	restored := restore(t, standby.instance, "--txid", strconv.FormatUint(target, 10))
	if got := countRoutes(t, restored); got != 1 {
		t.Fatalf("the restored database has %d routes", got)
	}
	if s, r := dump(t, filepath.Join(standby.home, "fazt.db")), dump(t, restored); s != r {
		t.Fatalf("the replica's latest differs from the new primary's:\n%s", diffLines(s, r))
	}
}

// A running kernel on a fresh data directory becomes an edge through its
// tree (/driver/litestream/follow): it restarts in place, restores and
// follows, keeping its own listeners. One with a database of its own, a
// bad URL and an empty replica are refused, with nothing changed.
func TestBecomeAnEdgeThroughTheTree(t *testing.T) {
	s3, primary, url, _ := primaryAndStandby(t)
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("from the primary\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	backup(t, primary)

	busy := newInstance(t)
	sh(t, "echo blog > "+q(busy.path("net/routes/mine.test")))
	for _, c := range []struct {
		in   *instance
		v    string
		want syscall.Errno
	}{
		{busy, url, syscall.EEXIST},
		{busy, "ftp://example.com/x", syscall.EINVAL},
		{busy, url + " sideways", syscall.EINVAL},
		{busy, s3.url("empty"), syscall.ENOENT},
	} {
		err := os.WriteFile(c.in.path("driver/litestream/follow"), []byte(c.v+"\n"), 0o200)
		if !errors.Is(err, c.want) {
			t.Fatalf("follow %q: %v, want %v\nerr: %s", c.v, err, c.want, sh(t, "cat "+q(c.in.path("driver/litestream/err"))))
		}
	}
	if st := keyValues(t, busy.path("proc/status")); st["role"] != "primary" || nodeSetting(t, busy, "node.follows") != "" {
		t.Fatalf("a refused follow changed the kernel: role %q, node.follows %q", st["role"], nodeSetting(t, busy, "node.follows"))
	}

	fresh := newInstance(t)
	e := listenOn(t, fresh, 0, 0)
	pid := fresh.pid()
	if err := os.WriteFile(fresh.path("driver/litestream/follow"), []byte(url+"\n"), 0o200); err != nil {
		t.Fatalf("follow from the tree: %v", err)
	}
	serves(t, e, "from the primary\n")
	waitUntil(t, time.Minute, func() bool {
		b, err := os.ReadFile(fresh.path("proc/status"))
		return err == nil && strings.Contains(string(b), "role edge\n")
	}, func() string { return "the mount did not come back as an edge:\n" + fresh.log() })
	if got := fresh.pid(); got != pid {
		t.Errorf("the kernel's pid changed from %d to %d: not restarted in place", pid, got)
	}
	if _, err := os.Stat(filepath.Join(fresh.home, "fazt.db.before-follow")); err != nil {
		t.Errorf("the fresh database was not kept aside: %v", err)
	}
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("later\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serves(t, e, "later\n")
	if err := os.WriteFile(fresh.path("driver/litestream/follow"), []byte(url+"\n"), 0o200); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("follow on an edge: %v, want EEXIST", err)
	}

	// Through the CLI, killed right after the write was taken, before it
	// restarted: the kernel its supervisor starts again finishes the
	// switch.
	killed := newInstance(t)
	e = listenOn(t, killed, 0, 0)
	pid = killed.pid()
	if out, err := killed.fazt("driver", "litestream", "follow", url, "standby"); err != nil || !strings.Contains(out, "follows "+url+" now") {
		t.Fatalf("fazt driver litestream follow: %v\n%s", err, out)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	serves(t, e, "later\n")
	if got := nodeSetting(t, killed, "node.standby"); got != "true" {
		t.Errorf("node.standby after the kill: %q", got)
	}
	if _, err := os.Stat(filepath.Join(killed.home, "fazt.db.before-follow")); err != nil {
		t.Errorf("the fresh database was not kept aside: %v", err)
	}
}

// A standby killed (kill -9) at each step of taking over, one after the
// other (package failpoint: each point fires once, then its supervisor
// starts it again): it comes back a standby or the primary, takes over in
// the end, and the replica's history goes on from the primary's: a fresh
// edge serves what it wrote after.
func TestTakeOverKilledAtEachStep(t *testing.T) {
	points := []string{"takeover.leased", "takeover.recorded", "takeover.bound", "takeover.promoted"}
	fired := t.TempDir()
	t.Setenv("FAZT_FAILPOINTS", strings.Join(points, ","))
	t.Setenv("FAZT_FAILPOINT_DIR", fired)
	_, primary, url, standby := primaryAndStandby(t)
	os.Unsetenv("FAZT_FAILPOINTS") // for the edge started below
	serves(t, standby, "v0\n")
	// The shortest lease: the standby's own, after each kill, expires
	// before it takes over again.
	sh(t, "echo 3s > "+q(primary.path("driver/litestream/lease_ttl")))
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("last of the primary\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	backup(t, primary)
	serves(t, standby, "last of the primary\n")
	primary.crash()

	waitUntil(t, 4*time.Minute, func() bool {
		for _, p := range points {
			if _, err := os.Stat(filepath.Join(fired, p)); err != nil {
				return false
			}
		}
		return true
	}, func() string {
		ents, _ := os.ReadDir(fired)
		return fmt.Sprintf("the standby did not reach every step (%d of %d fired):\n%s", len(ents), len(points), standby.log())
	})
	becomesPrimary(t, standby, "after the kills\n")
	waitUntil(t, time.Minute, func() bool {
		st := keyValues(t, standby.path("proc/status"))
		return st["role"] == "primary" && st["lease"] == "holding"
	}, func() string {
		b, _ := os.ReadFile(standby.path("proc/status"))
		return fmt.Sprintf("after the kills:\n%s\nlog:\n%s", b, standby.log())
	})
	if n := len(regexp.MustCompile(`supervisor: the kernel \(pid \d+\) was killed by SIGKILL`).FindAllString(standby.log(), -1)); n != len(points) {
		t.Errorf("the supervisor saw %d kills, want %d", n, len(points))
	}
	backup(t, standby.instance)
	integrity(t, standby.home)
	e := startEdge(t, url, 0, 0)
	serves(t, e, "after the kills\n")
}

// Three machines: a primary and two standbys. Killed, the primary is
// replaced by exactly one of them; the other stays a standby of the new
// primary (refusing writes, serving its deploys); killed in turn, the new
// primary is replaced by the last, which goes on from its history.
func TestTwoStandbysOneWins(t *testing.T) {
	_, primary, url, a := primaryAndStandby(t)
	b := startStandby(t, url)
	serves(t, b, "v0\n")
	primary.crash()

	// Write to both until one takes it: the winner.
	var winner, loser *edge
	waitUntil(t, 2*time.Minute, func() bool {
		for _, s := range []*edge{a, b} {
			if os.WriteFile(s.path("fs/blog/index.html"), []byte("second primary\n"), 0o644) == nil {
				winner = s
				return true
			}
		}
		return false
	}, func() string { return "neither standby took over:\n" + a.log() + "\n" + b.log() })
	loser = a
	if winner == a {
		loser = b
	}
	serves(t, loser, "second primary\n")
	if st := keyValues(t, loser.path("proc/status")); st["role"] != "standby" || st["lease_owner"] != nodeID(t, winner.instance) || st["lease_generation"] != "2" {
		t.Fatalf("the other standby: role %q lease_owner %q generation %q", st["role"], st["lease_owner"], st["lease_generation"])
	}
	if err := os.WriteFile(loser.path("fs/blog/index.html"), []byte("fork\n"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("a write on the standby that lost: %v, want EROFS", err)
	}

	winner.crash()
	becomesPrimary(t, loser, "third primary\n")
	waitUntil(t, time.Minute, func() bool {
		st := keyValues(t, loser.path("proc/status"))
		return st["role"] == "primary" && st["lease"] == "holding" && st["lease_generation"] == "3"
	}, func() string {
		s, _ := os.ReadFile(loser.path("proc/status"))
		return fmt.Sprintf("the last standby after the second failover:\n%s", s)
	})
	backup(t, loser.instance)
	integrity(t, loser.home)
	e := startEdge(t, url, 0, 0)
	serves(t, e, "third primary\n")
}

// Certificates across a failover: while the primary lives, the CA's
// HTTP-01 requests reach the standby (DNS points at it), which answers
// from the replicated challenge data; once it took over, it obtains
// certificates itself, and serves the old and the new over HTTPS.
func TestStandbyObtainsCertificates(t *testing.T) {
	s3, ca, sHTTP, sHTTPS := s3AndCA(t) // the CA validates on the standby's ports
	primary := newInstance(t)
	sh(t, fmt.Sprintf(`cd %s
echo 127.0.0.1:%d > net/http
echo 127.0.0.1:%d > net/https
echo "acme ca %s" > net/ctl
echo "acme challenges http-01" > net/ctl
echo %s > driver/litestream/lease_ttl
mkdir -p fs/site
echo '<h1>site</h1>' > fs/site/index.html`, q(primary.mnt), freePort(t), freePort(t), ca.dir, failoverTTL))
	useS3(t, primary, s3, s3Secret)
	waitStatus(t, primary, "lease", "holding")
	backup(t, primary)
	url := s3.url("fazt")
	standby := listenOn(t, newInstance(t, "--follow", url, "--standby"), sHTTP, sHTTPS)

	before, after := "before.example.com", "after.example.com"
	sh(t, fmt.Sprintf("cd %s && echo site > net/routes/%s && echo 'tls on' > net/ctl", q(primary.mnt), before))
	issued := func(on *instance, host string) {
		t.Helper()
		waitUntil(t, 2*time.Minute, func() bool { return certStatus(on, host)["not_after"] > "2" }, func() string {
			return fmt.Sprintf("no certificate for %s on %s: %v\nlog:\n%s\npebble log:\n%s", host, on.home, certStatus(on, host), on.log(), ca.log.String())
		})
	}
	issued(primary, before)
	primary.crash()
	waitUntil(t, 2*time.Minute, func() bool {
		return os.WriteFile(standby.path("net/routes/"+after), []byte("site\n"), 0o644) == nil
	}, func() string { return "the standby did not take over:\n" + standby.log() })
	issued(standby.instance, after)
	roots, _ := ca.roots(t)
	client := httpsClient(roots, sHTTP, sHTTPS)
	for _, host := range []string{before, after} {
		waitUntil(t, time.Minute, func() bool {
			resp, err := client.Get(fmt.Sprintf("https://%s:%d/", host, sHTTPS))
			if err != nil {
				return false
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode == 200 && string(body) == "<h1>site</h1>\n"
		}, func() string { return "the new primary does not serve " + host + " over HTTPS\nlog:\n" + standby.log() })
	}
}

// A primary, a standby and an edge each upgraded in place (fazt proc
// upgrade, the next binary): each keeps its role and its place (the
// primary its lease, in the same generation: no failover), replication
// goes on, and the upgraded standby takes over when the primary dies.
func TestStandbyAndEdgeUpgrade(t *testing.T) {
	next := faztNext(t)
	nextSum, _ := fileSum(next)
	_, primary, url, standby := primaryAndStandbyOf(t, installedCopy(t, faztBin), installedCopy(t, faztBin))
	e := startFollowerOf(t, installedCopy(t, faztBin), url)
	pid := nodeID(t, primary)
	for _, c := range []struct {
		name string
		in   *instance
		role string
	}{{"edge", e.instance, "edge"}, {"standby", standby.instance, "standby"}, {"primary", primary, "primary"}} {
		if out, err := c.in.fazt("proc", "upgrade", "--from", next, "--sha256", nextSum); err != nil {
			t.Fatalf("upgrade the %s: %v\n%s\nlog:\n%s", c.name, err, out, c.in.log())
		}
		waitUntil(t, time.Minute, func() bool {
			st := procStatus(t, c.in)
			return st["version"] == "e2e-next" && st["role"] == c.role
		}, func() string {
			return fmt.Sprintf("the upgraded %s: %v\nlog:\n%s", c.name, procStatus(t, c.in), c.in.log())
		})
	}
	waitUntil(t, time.Minute, func() bool {
		st := keyValues(t, primary.path("proc/status"))
		return st["lease"] == "holding" && st["lease_owner"] == pid && st["lease_generation"] == "1"
	}, func() string {
		b, _ := os.ReadFile(primary.path("proc/status"))
		return "the upgraded primary's lease:\n" + string(b)
	})
	if err := os.WriteFile(primary.path("fs/blog/index.html"), []byte("after the upgrades\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serves(t, e, "after the upgrades\n")
	serves(t, standby, "after the upgrades\n")
	if st := keyValues(t, standby.path("proc/status")); st["role"] != "standby" || st["lease_generation"] != "1" {
		t.Fatalf("the upgraded standby: role %q generation %q: a failover happened", st["role"], st["lease_generation"])
	}

	primary.crash()
	becomesPrimary(t, standby, "after failover\n")
	serves(t, e, "after failover\n")
}
