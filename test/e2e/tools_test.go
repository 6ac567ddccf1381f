package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tools that walk the whole mount finish: nothing in the tree blocks them
// (the blocking event stream is not listed).
func TestToolsWalkTheWholeTree(t *testing.T) {
	in := newInstance(t)
	if err := os.WriteFile(in.path("fs/hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, c := range []struct{ name, script string }{
		{"grep -r", "grep -r no-such-text " + q(in.mnt)},
		{"tar -c", "tar -cf " + q(out+"/all.tar") + " -C " + q(in.mnt) + " ."},
		{"cp -r", "cp -r " + q(in.mnt) + " " + q(out+"/cp")},
		{"rsync -a", "rsync -a " + q(in.mnt+"/") + " " + q(out+"/rsync/")},
		{"find", "find " + q(in.mnt)},
		{"find -type f -exec cat", "find " + q(in.mnt) + " -type f -exec cat {} +"},
	} {
		// Their exit status is theirs (secrets do not read back, status
		// files change as tar reads them): what matters is that they end.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", c.script+" >/dev/null 2>&1")
		cmd.Dir = "/"
		cmd.WaitDelay = 5 * time.Second
		start := time.Now()
		cmd.Run()
		if ctx.Err() != nil {
			t.Errorf("%s over the whole mount did not finish in 2 minutes", c.name)
		} else {
			t.Logf("%s: %v", c.name, time.Since(start).Round(time.Millisecond))
		}
		cancel()
	}
	// What they copied has the recent events, as a file.
	if fi, err := os.Stat(out + "/rsync/proc/events"); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("rsync's copy of /proc/events: %v %v", fi, err)
	}
}

// tail -f still follows the events, pushed as they happen.
func TestTailEvents(t *testing.T) {
	in := newInstance(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tail := exec.CommandContext(ctx, "tail", "-f", in.path("proc/events"))
	tail.Dir = "/"
	stdout, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { tail.Process.Kill(); tail.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// tail may open the stream a little after it starts: write routes
	// until one shows.
	deadline := time.After(time.Minute)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case l := <-lines:
			if strings.Contains(l, "route") {
				return
			}
		case <-tick.C:
			os.WriteFile(in.path("net/routes/tail"+string(rune('a'+i%26))+".example"), []byte("blog\n"), 0o644)
		case <-deadline:
			t.Fatal("tail -f /proc/events showed no route event within a minute")
		}
	}
}

// Control files keep real times: a route's mtime is when it changed (not
// when it is looked at), writing the same value leaves it, ctime is never
// before mtime, and a route's times survive a restart.
func TestControlFileTimes(t *testing.T) {
	in := newInstance(t)
	times := func(p string) (mtime, ctime time.Time) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(in.path(p), &st); err != nil {
			t.Fatal(err)
		}
		return time.Unix(st.Mtim.Unix()), time.Unix(st.Ctim.Unix())
	}
	route := "net/routes/times.example"
	if err := os.WriteFile(in.path(route), []byte("blog\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m1, c1 := times(route)
	if c1.Before(m1) || time.Since(m1) > time.Minute {
		t.Fatalf("a new route: mtime %v ctime %v", m1, c1)
	}
	time.Sleep(1100 * time.Millisecond)
	if m, _ := times(route); !m.Equal(m1) {
		t.Fatalf("the mtime moved by being looked at: %v, then %v", m1, m)
	}
	os.WriteFile(in.path(route), []byte("blog\n"), 0o644) // the same value again
	if m, _ := times(route); !m.Equal(m1) {
		t.Fatalf("writing the same route moved its mtime: %v, then %v", m1, m)
	}
	if err := os.WriteFile(in.path(route), []byte("docs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m2, c2 := times(route)
	if !m2.After(m1) || c2.Before(m2) {
		t.Fatalf("a changed route: mtime %v (was %v), ctime %v", m2, m1, c2)
	}
	// A value file of the kernel's: its mtime moves when it changes.
	mm1, _ := times("proc/memory_limit")
	time.Sleep(1100 * time.Millisecond)
	if err := os.WriteFile(in.path("proc/memory_limit"), []byte("512M\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mm2, cm2 := times("proc/memory_limit")
	if !mm2.After(mm1) || cm2.Before(mm2) {
		t.Fatalf("memory_limit after a change: mtime %v (was %v), ctime %v", mm2, mm1, cm2)
	}
	os.WriteFile(in.path("proc/memory_limit"), []byte("512M\n"), 0o644) // the same value again
	if m, _ := times("proc/memory_limit"); !m.Equal(mm2) {
		t.Fatalf("setting memory_limit to its value moved its mtime: %v, then %v", mm2, m)
	}
	// Every control file: ctime never before mtime.
	for _, p := range []string{"net/ctl", "net/status", "proc/status", "storage/status", "proc/events", "proc/log"} {
		if m, c := times(p); c.Before(m) {
			t.Errorf("%s: ctime %v before mtime %v", p, c, m)
		}
	}
	// The route's times are stored: a restart keeps them.
	if out, err := in.fazt("fs", "umount", in.mnt); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	waitUntil(t, time.Minute, func() bool { return in.pid() == 0 }, func() string { return "the kernel holds on" })
	in.mount()
	if m, _ := times(route); !m.Equal(m2) {
		t.Fatalf("after a restart the route's mtime is %v, was %v", m, m2)
	}
	if m, _ := times("proc/memory_limit"); !m.Equal(mm2) {
		t.Fatalf("after a restart memory_limit's mtime is %v, was %v", m, mm2)
	}
}

// Writes are whole or nothing, and writing what is there already is a
// no-op: through the mount, with the shell.
func TestControlWritesAtomicAndIdempotent(t *testing.T) {
	in := newInstance(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	w := func(p, data string) error { return os.WriteFile(in.path(p), []byte(data), 0o644) }
	// Two lines to a value file: refused, nothing created.
	if err := w("net/routes/two.example", "blog\ndocs\n"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("two lines to a route: %v, want EINVAL", err)
	}
	// (The name the create gave the kernel is taken back a moment later.)
	waitUntil(t, 30*time.Second, func() bool {
		_, err := os.Stat(in.path("net/routes/two.example"))
		return os.IsNotExist(err)
	}, func() string { return "the refused route exists" })
	if b, _ := os.ReadFile(in.path("net/err")); !strings.Contains(string(b), "nothing was applied") {
		t.Fatalf("net/err: %q", b)
	}
	// A ctl write whose third line is bad applies none of them.
	err := w("net/ctl", "route add a.example blog\nroute add b.example blog\nroute add Bad_Host blog\n")
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("a bad third line: %v, want EINVAL", err)
	}
	for _, h := range []string{"a.example", "b.example"} {
		if _, err := os.Stat(in.path("net/routes/" + h)); !os.IsNotExist(err) {
			t.Fatalf("%s was applied from a refused write", h)
		}
	}
	if b, _ := os.ReadFile(in.path("net/err")); !strings.Contains(string(b), "line 3 of 3") {
		t.Fatalf("net/err does not name the line: %q", b)
	}
	// An empty create makes nothing, and says so.
	// (Said when the kernel releases the file, a moment after close(2)
	// returns: a shell's redirection closes a descriptor of it before
	// the write, so the flush of close cannot tell.)
	sh(t, "touch "+q(in.path("net/routes/empty.example")))
	waitUntil(t, 30*time.Second, func() bool {
		b, _ := os.ReadFile(in.path("net/err"))
		return strings.Contains(string(b), "nothing was created")
	}, func() string {
		b, _ := os.ReadFile(in.path("net/err"))
		return fmt.Sprintf("touch of a route: net/err %q", b)
	})
	// A verb of two words, given one: what it takes.
	if err := w("net/ctl", "tls\n"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("tls alone: %v", err)
	}
	if b, _ := os.ReadFile(in.path("net/err")); !strings.Contains(string(b), "tls on, tls off") {
		t.Fatalf("tls alone: net/err %q", b)
	}
	// The history is read-only, and says so in its modes.
	if fi, err := os.Stat(in.path("deploys")); err != nil || fi.Mode().Perm()&0o222 != 0 {
		t.Fatalf("/deploys: %v %v", fi.Mode(), err)
	}
	// The listener: its own address again is a no-op; a bad port is
	// EINVAL; a refused move leaves no error in status.
	if err := w("net/http", addr+"\n"); err != nil {
		t.Fatal(err)
	}
	if err := w("net/http", addr+"\n"); err != nil {
		t.Fatalf("the same address again: %v", err)
	}
	if err := w("net/http", ":99999\n"); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf(":99999: %v, want EINVAL", err)
	}
	taken, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	defer taken.Close()
	if err := w("net/http", taken.Addr().String()+"\n"); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("a taken port: %v, want EBUSY", err)
	}
	st := procStatus(t, in)
	if st["net_http_addr"] != addr || st["net_http_error"] != "-" {
		t.Fatalf("after a refused move: addr %q error %q", st["net_http_addr"], st["net_http_error"])
	}
}

// A deploy says which links lead outside the site (they are not served),
// in its dry run too, and --copy-unsafe-links sends what they point to.
func TestDeployUnsafeLinks(t *testing.T) {
	in := newInstance(t)
	base := t.TempDir()
	src, outside := base+"/site", base+"/outside.js"
	os.MkdirAll(src+"/js", 0o755)
	os.WriteFile(outside, []byte("jquery\n"), 0o644)
	os.WriteFile(src+"/index.html", []byte("hi\n"), 0o644)
	os.Symlink(outside, src+"/js/jquery.js")
	os.Symlink("../index.html", src+"/js/home.html") // inside: fine
	for _, args := range [][]string{{"deploy", "--dry-run", src, "links"}, {"deploy", src, "links"}} {
		out, err := in.fazt(args...)
		if err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
		if !strings.Contains(out, "1 links lead outside the site") || !strings.Contains(out, "js/jquery.js -> "+outside) || strings.Contains(out, "\n  js/home.html ->") {
			t.Fatalf("%v: no warning naming the outside link only:\n%s", args, out)
		}
	}
	if target, err := os.Readlink(in.path("fs/links/js/jquery.js")); err != nil || target != outside {
		t.Fatalf("deployed as a link: %q %v", target, err)
	}
	out, err := in.fazt("deploy", "--copy-unsafe-links", src, "links")
	if err != nil || strings.Contains(out, "lead outside") {
		t.Fatalf("--copy-unsafe-links: %v\n%s", err, out)
	}
	if fi, err := os.Lstat(in.path("fs/links/js/jquery.js")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("with --copy-unsafe-links the link is not a file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(in.path("fs/links/js/jquery.js")); string(b) != "jquery\n" {
		t.Fatalf("copied content %q", b)
	}
}

// A route to a site that does not exist is accepted, and flagged: in
// /net/status and by the CLI.
func TestRouteToMissingSite(t *testing.T) {
	in := newInstance(t)
	out, err := in.fazt("net", "route", "add", "later.example", "later")
	if err != nil || !strings.Contains(out, "WARNING: no site later yet") {
		t.Fatalf("route to a missing site: %v\n%s", err, out)
	}
	st, _ := os.ReadFile(in.path("net/status"))
	if !strings.Contains(string(st), "routes_missing_site later.example:later\n") {
		t.Fatalf("net/status:\n%s", st)
	}
	os.MkdirAll(in.path("fs/later"), 0o755)
	st, _ = os.ReadFile(in.path("net/status"))
	if !strings.Contains(string(st), "routes_missing_site -\n") {
		t.Fatalf("net/status once the site exists:\n%s", st)
	}
	if out, err := in.fazt("net", "route", "add", "now.example", "later"); err != nil || strings.Contains(out, "WARNING") {
		t.Fatalf("route to an existing site: %v\n%s", err, out)
	}
}

// A rollback of a site that was never deployed fails and leaves nothing.
// (keep may be set before a site's first deploy: it makes its history.)
func TestHistoryOfUnknownSite(t *testing.T) {
	in := newInstance(t)
	for _, args := range [][]string{{"deploy", "rollback", "zzz"}} {
		out, err := in.fazt(args...)
		if err == nil || !strings.Contains(out, "no site") {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	if err := os.WriteFile(in.path("deploys/ctl"), []byte("rollback zzz\n"), 0o644); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("rollback zzz through /deploys/ctl: %v, want ENOENT", err)
	}
	for _, p := range []string{"fs/.deploys/zzz"} {
		if _, err := os.Lstat(in.path(p)); !os.IsNotExist(err) {
			t.Errorf("%s was left behind: %v", p, err)
		}
	}
}
