package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

var (
	nextOnce sync.Once
	nextBin  string
	nextErr  error
)

// faztNext is the same source built as version e2e-next: the binary the
// upgrade tests upgrade to.
func faztNext(t *testing.T) string {
	t.Helper()
	nextOnce.Do(func() {
		nextBin = filepath.Join(filepath.Dir(faztBin), "fazt-next")
		gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
		out, err := exec.Command(gocmd, "build", "-tags", "", "-ldflags", "-X main.version=e2e-next", "-o", nextBin, "../../cmd/fazt").CombinedOutput()
		if err != nil {
			nextErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if nextErr != nil {
		t.Fatal(nextErr)
	}
	return nextBin
}

// installedCopy copies bin to a directory of the test's own, as an
// installed binary that upgrades may replace.
func installedCopy(t *testing.T, bin string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "fazt")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// servedSite sets up a site routed on a loopback port and returns its URL
// and the page it serves.
func servedSite(t *testing.T, in *instance) (string, string) {
	t.Helper()
	port := freePort(t)
	page := "<!doctype html><title>up</title>" + strings.Repeat("<p>served</p>", 100) + "\n"
	os.MkdirAll(in.path("fs/up"), 0o755)
	if err := os.WriteFile(in.path("fs/up/index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, fmt.Sprintf("cd %s && echo 127.0.0.1:%d > net/http && echo up > net/routes/127.0.0.1", q(in.mnt), port))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitUntil(t, 60*time.Second, func() bool {
		r, err := http.Get(url)
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return string(b) == page
	}, func() string { return "the site is not served" })
	return url, page
}

// load requests url from several clients until stop is closed: half of
// them keep connections alive, half open one per request. Every answer
// must be the whole page.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex // guards errs
	errs       []string
	wg         sync.WaitGroup
	stop       chan struct{}
}

func startLoad(url, page string) *load {
	l := &load{stop: make(chan struct{})}
	deadline := time.Now().Add(2 * time.Minute) // bounded whatever happens
	for i := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: i%2 == 1}}
			for n := 0; n < 100000 && time.Now().Before(deadline); n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				var local string
				req, _ := http.NewRequest("GET", url, nil)
				req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { local = ci.Conn.LocalAddr().String() }}))
				r, err := c.Do(req)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(r.Body)
					r.Body.Close()
					if err == nil && (r.StatusCode != 200 || string(b) != page) {
						err = fmt.Errorf("status %d, %d bytes", r.StatusCode, len(b))
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, err.Error()+" local "+local+" at "+time.Now().Format("15:04:05.000000"))
					}
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

// end stops the load and fails the test if any request failed.
func (l *load) end(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("load: %d requests served, %d failed", l.ok.Load(), l.failed.Load())
	if l.failed.Load() > 0 || l.ok.Load() == 0 {
		t.Fatalf("%d of %d requests failed: %s", l.failed.Load(), l.failed.Load()+l.ok.Load(), strings.Join(l.errs, "; "))
	}
}

func procStatus(t *testing.T, in *instance) map[string]string {
	t.Helper()
	out, err := in.fazt("proc", "status", "--raw")
	if err != nil {
		t.Fatalf("proc status: %v %s", err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			m[k] = v
		}
	}
	return m
}

// Upgrades while clients hammer the site: not one request fails, the new
// version serves, the mount comes back, and rollback returns to the old.
func TestUpgradeUnderLoad(t *testing.T) {
	next := faztNext(t)
	bin := installedCopy(t, faztBin)
	in := newInstanceOf(t, bin)
	url, page := servedSite(t, in)
	// With continuous backups on: the backup child is handed over too.
	sh(t, "echo file://"+t.TempDir()+" > "+q(in.path("driver/litestream/replicas/local")))
	oldSum, _ := fileSum(bin)
	nextSum, _ := fileSum(next)

	l := startLoad(url, page)
	time.Sleep(300 * time.Millisecond)
	for round, want := range []string{"e2e-next", "e2e", "e2e-next"} {
		before := procStatus(t, in)
		var out string
		var err error
		if want == "e2e-next" {
			out, err = in.fazt("proc", "upgrade", "--from", next, "--sha256", nextSum)
		} else {
			// Through the mount, as an operator would: the write returns
			// once the new kernel is ready; the mount then comes back.
			out, err = shErr("echo rollback > " + q(in.path("proc/ctl")))
			if err == nil {
				waitUntil(t, 30*time.Second, func() bool { return in.pid() != 0 && strconv.Itoa(in.pid()) != before["pid"] },
					func() string { return "the new kernel did not take over:\n" + in.log() })
			}
		}
		if err != nil {
			l.end(t)
			t.Fatalf("round %d: %v %s\nlog:\n%s", round, err, out, in.log())
		}
		after := procStatus(t, in)
		if after["version"] != want || after["pid"] == before["pid"] {
			t.Fatalf("round %d: %s; status after: %v", round, out, after)
		}
		if after["upgraded_from"] != fmt.Sprintf("%s (pid %s)", before["version"], before["pid"]) {
			t.Fatalf("round %d: upgraded_from %q", round, after["upgraded_from"])
		}
		// The binary in place is the new one; the old one is kept beside it.
		cur, _ := fileSum(bin)
		prev, _ := fileSum(bin + ".prev")
		if want == "e2e-next" && (cur != nextSum || prev != oldSum) || want == "e2e" && (cur != oldSum || prev != nextSum) {
			t.Fatalf("round %d: binary %s, prev %s", round, cur, prev)
		}
		// The mount is back, and writable.
		waitUntil(t, 60*time.Second, func() bool {
			return os.WriteFile(in.path(fmt.Sprintf("fs/up/round%d.txt", round)), []byte(want), 0o644) == nil
		}, func() string { return "the mount is not back:\n" + in.log() })
		time.Sleep(200 * time.Millisecond)
	}
	if l.failed.Load() > 0 {
		t.Log(in.log())
	}
	l.end(t)
	if b, err := os.ReadFile(in.path("fs/up/round0.txt")); err != nil || string(b) != "e2e-next" {
		t.Fatalf("a file written after the first upgrade: %q %v", b, err)
	}
	integrityWhileRunning(t, in)
	waitUntil(t, 30*time.Second, func() bool { return procStatus(t, in)["driver_litestream"] == "running" },
		func() string { return "the backup child: " + procStatus(t, in)["driver_litestream"] + "\n" + in.log() })
	if out, err := in.fazt("storage", "backup"); err != nil {
		t.Fatalf("a backup after the upgrades: %v %s", err, out)
	}
	// Nothing of the old kernels is left: one kernel, one backup child
	// (and the supervisor).
	if procs := in.kernelProcs(); len(procs) != 2 {
		t.Fatalf("processes on the data directory: %q", procs)
	}
}

// integrityWhileRunning checks the database of a running kernel.
func integrityWhileRunning(t *testing.T, in *instance) {
	t.Helper()
	if out, err := in.fazt("storage", "integrity-check"); err != nil {
		t.Fatalf("integrity check: %v %s", err, out)
	}
}

// Upgrades to binaries that are not fazt, exit at once, never become
// ready or do not match their digest: refused or rolled back, the old
// binary back in place, the kernel serving throughout.
func TestUpgradeRollsBack(t *testing.T) {
	bin := installedCopy(t, faztBin)
	in := newInstanceOf(t, bin)
	url, page := servedSite(t, in)
	sum, _ := fileSum(bin)
	pid := in.pid()
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	version := `if [ "$1" = version ]; then echo "fazt v9 go1 ` + platform + `"; exit 0; fi; `
	exits := script("exits", version+`echo "cannot start: test" >&2; exit 3`)
	hangs := script("hangs", version+`exec sleep 600`)
	notFazt := script("not-fazt", `echo hello`)
	otherArch := script("other-arch", `echo "fazt v9 go1 plan9/mips"`)
	// The binary a rollback would go back to survives every failed upgrade.
	if err := os.WriteFile(bin+".prev", []byte("the previous binary"), 0o755); err != nil {
		t.Fatal(err)
	}

	l := startLoad(url, page)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", exits}, "exited at start (exit status 3); the old binary is back and serving"},
		{[]string{"--from", hangs, "--timeout", "2s"}, "was not ready within 2s; the old binary is back and serving"},
		{[]string{"--from", notFazt}, `is not fazt: its version says "hello"`},
		{[]string{"--from", otherArch}, "is built for plan9/mips"},
		{[]string{"--from", faztBin, "--sha256", strings.Repeat("0", 64)}, "has sha256"},
		{[]string{"--from", filepath.Join(dir, "missing")}, "no such file or directory"},
		{[]string{}, "--from PATH is required"},
	} {
		out, err := in.fazt(append([]string{"proc", "upgrade"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			l.end(t)
			t.Fatalf("upgrade %v: %v %q, want %q", c.args, err, out, c.want)
		}
		if got, _ := fileSum(bin); got != sum {
			t.Fatalf("upgrade %v: the binary in place changed", c.args)
		}
		if in.pid() != pid {
			t.Fatalf("upgrade %v: the kernel changed (pid %d, was %d)", c.args, in.pid(), pid)
		}
	}
	l.end(t)
	st := procStatus(t, in)
	if st["upgrade"] != "failed" || !strings.Contains(st["upgrade_error"], "no such file") {
		t.Fatalf("status: upgrade %q, error %q", st["upgrade"], st["upgrade_error"])
	}
	if b, _ := exec.Command("pgrep", "-f", "sleep 600").Output(); len(b) > 0 {
		t.Fatalf("the hanging binary was left running: %s", b)
	}
	if b, err := os.ReadFile(bin + ".prev"); err != nil || string(b) != "the previous binary" {
		t.Fatalf("fazt.prev after failed upgrades: %.40q %v", b, err)
	}
	// With no previous binary, rollback says so.
	os.Remove(bin + ".prev")
	if out, err := in.fazt("proc", "rollback"); err == nil || !strings.Contains(out, "no previous binary") {
		t.Fatalf("rollback without fazt.prev: %v %s", err, out)
	}
}

// An older binary runs on a database a newer fazt migrated (migrations
// only add), and refuses one whose compatibility level it does not know.
func TestOldBinaryOnNewerDB(t *testing.T) {
	in := newInstance(t)
	sh(t, "mkdir "+q(in.path("fs/blog"))+" && echo before > "+q(in.path("fs/blog/index.html"))+" && echo blog > "+q(in.path("net/routes/blog.test")))
	if out, err := in.fazt("proc", "stop"); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	// What a newer fazt's migration does: a table, a column, its record.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(in.home, "fazt.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	future := func(stmts ...string) {
		t.Helper()
		for _, s := range stmts {
			if _, err := db.ExecContext(context.Background(), s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	future(`CREATE TABLE future_things (id INTEGER PRIMARY KEY, what TEXT NOT NULL)`,
		`INSERT INTO future_things(what) VALUES ('kept')`,
		`ALTER TABLE routes ADD COLUMN future_note TEXT`,
		`INSERT INTO schema_migrations(name, sha256, applied_at) VALUES ('0099_future.sql', 'abc', 0)`)
	db.Close()

	in.mount()
	if !strings.Contains(in.log(), "compatibility mode") {
		t.Fatalf("no word of the newer schema in the log:\n%s", in.log())
	}
	sh(t, "echo after > "+q(in.path("fs/blog/index.html"))+" && echo blog > "+q(in.path("net/routes/new.test"))+" && rm "+q(in.path("net/routes/blog.test")))
	if got := sh(t, "cat "+q(in.path("fs/blog/index.html"))+" && ls "+q(in.path("net/routes"))); got != "after\nnew.test\n" {
		t.Fatalf("the old binary on the newer database: %q", got)
	}
	if out, err := in.fazt("storage", "integrity-check"); err != nil {
		t.Fatalf("integrity: %v %s", err, out)
	}
	if out, err := in.fazt("proc", "stop"); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	db, err = sql.Open("sqlite3", "file:"+filepath.Join(in.home, "fazt.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	var what string
	if err := db.QueryRow(`SELECT what FROM future_things`).Scan(&what); err != nil || what != "kept" {
		t.Fatalf("the newer table: %q %v", what, err)
	}
	// A level this binary does not know: refused, with the reason.
	future(`INSERT OR REPLACE INTO fazt_meta(key, value) VALUES ('compat', '99')`)
	db.Close()
	out, err := in.fazt("fs", "mount", in.mnt)
	if err == nil || !strings.Contains(out, "needs a newer fazt") {
		t.Fatalf("start on a database of compatibility level 99: %v %s", err, out)
	}
}

// SIGTERM while rsync copies into the mount: the kernel stops in order
// (its log says so), rsync fails rather than hangs, and the database is
// whole; the next kernel serves every file either old or new.
func TestSigtermDuringRsync(t *testing.T) {
	log, rsyncErr := interruptRsync(t, syscall.SIGTERM)
	if !strings.Contains(log, "kernel stopped") {
		t.Fatalf("the kernel did not stop in order:\n%s", log)
	}
	if rsyncErr == nil {
		t.Log("rsync finished before the signal; the checks still hold")
	}
}

// fazt proc install copies the binary, writes a unit systemd-analyze
// accepts, makes the directories; uninstall removes the unit only.
func TestProcInstall(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil && os.Getenv("CI") == "" {
		t.Skip("no systemd-analyze here")
	}
	d := t.TempDir()
	bin, data, mnt := filepath.Join(d, "bin", "fazt"), filepath.Join(d, "data"), filepath.Join(d, "mnt")
	out, err := exec.Command(faztBin, "--data", data, "proc", "install", "--bin", bin, "--unit-dir", d, "--mount", mnt, "--no-start").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "wrote "+filepath.Join(d, "fazt.service")) {
		t.Fatalf("install: %v %s", err, out)
	}
	if a, b := must(fileSum(faztBin)), must(fileSum(bin)); a != b {
		t.Fatal("the installed binary differs")
	}
	for _, dir := range []string{data, mnt} {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Fatalf("%s: %v", dir, err)
		}
	}
	if out, err := exec.Command("systemd-analyze", "verify", filepath.Join(d, "fazt.service")).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v %s", err, out)
	}
	unit, _ := os.ReadFile(filepath.Join(d, "fazt.service"))
	if !strings.Contains(string(unit), "ExecStart="+bin+" --data "+data+" proc start --mount "+mnt) {
		t.Fatalf("unit:\n%s", unit)
	}
	printed, err := exec.Command(faztBin, "--data", data, "proc", "install", "--bin", bin, "--mount", mnt, "--print").Output()
	if err != nil || string(printed) != string(unit) {
		t.Fatalf("--print: %v\n%s", err, printed)
	}
	if out, err := exec.Command(faztBin, "proc", "uninstall", "--unit-dir", d).CombinedOutput(); err != nil || !strings.Contains(string(out), "removed") {
		t.Fatalf("uninstall: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(d, "fazt.service")); !os.IsNotExist(err) {
		t.Fatalf("the unit is still there: %v", err)
	}
	if _, err := os.Stat(data); err != nil {
		t.Fatal("uninstall removed the data directory")
	}
	if out, err := exec.Command(faztBin, "proc", "uninstall", "--unit-dir", d).CombinedOutput(); err == nil || !strings.Contains(string(out), "no service to uninstall") {
		t.Fatalf("second uninstall: %v %s", err, out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The old kernel killed (-9) at many moments of an upgrade's hand-over:
// every time, a kernel serves the sites and the mount again within a
// minute, and never two.
func TestUpgradeOldKernelKilled(t *testing.T) {
	next := faztNext(t)
	bin := installedCopy(t, faztBin)
	in := newInstanceOf(t, bin)
	url, page := servedSite(t, in)
	// kernels lists the kernels of this data directory (not their
	// supervisor).
	kernels := func() []int {
		out, _ := exec.Command("pgrep", "-f", "--", "--data "+in.home+" proc start").Output()
		var pids []int
		for _, f := range strings.Fields(string(out)) {
			cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline")
			if pid, _ := strconv.Atoi(f); pid != 0 && !strings.Contains(string(cmdline), "--supervise") {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	// successor finds the kernel the upgrade started beside old.
	successor := func(old int) int {
		for _, pid := range kernels() {
			if pid != old {
				return pid
			}
		}
		return 0
	}
	serves := func() bool {
		r, err := http.Get(url)
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return r.StatusCode == 200 && string(b) == page
	}
	for round, delay := range []time.Duration{0, 20 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		old := in.pid()
		from := next
		if round%2 == 1 {
			from = faztBin
		}
		up := exec.Command(bin, "--data", in.home, "proc", "upgrade", "--from", from)
		up.Dir = "/"
		if err := up.Start(); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 60*time.Second, func() bool { return successor(old) != 0 },
			func() string { return "no successor started:\n" + in.log() })
		time.Sleep(delay)
		syscall.Kill(old, syscall.SIGKILL)
		up.Wait() // it may fail: its kernel died under it
		waitUntil(t, 60*time.Second, func() bool {
			pid := in.pid()
			return pid != 0 && pid != old && serves() &&
				os.WriteFile(in.path(fmt.Sprintf("fs/up/round%d.txt", round)), []byte("x"), 0o644) == nil
		}, func() string {
			return fmt.Sprintf("round %d (killed %v after the successor started): not back; kernel %d\n%s", round, delay, in.pid(), in.log())
		})
		if pids := kernels(); len(pids) != 1 {
			t.Fatalf("round %d: kernels %v", round, pids)
		}
	}
}
