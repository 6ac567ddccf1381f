package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/internal/fusetest"
	"github.com/fazt-sh/fazt/kernel"
)

// bashQuote quotes s for bash as $'...'.
func bashQuote(s string) string {
	var b strings.Builder
	b.WriteString("$'")
	for _, c := range []byte(s) {
		switch c {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString("'")
	return b.String()
}

// The control-file script of proc/testdata, through a real mount with
// printf, cat, rm and ls: the same results, and the kernel's errors as the
// shell shows errnos.
func TestControlScriptThroughMount(t *testing.T) {
	in := newInstance(t)
	f, err := os.Open("../../proc/testdata/ctl.script")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, rest, _ := strings.Cut(line, " ")
		p, rest, _ := strings.Cut(rest, " ")
		rest = strings.TrimSpace(rest)
		contains := strings.HasPrefix(rest, "~")
		rest = strings.TrimPrefix(rest, "~")
		var data string
		if strings.HasPrefix(rest, `"`) {
			qs, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("line %d: %v", n, err)
			}
			data, _ = strconv.Unquote(qs)
			rest = strings.TrimSpace(rest[len(qs):])
		}
		kind := rest
		host := in.path(p)
		var script string
		switch op {
		case "write":
			script = "printf %s " + bashQuote(data) + " > " + q(host)
		case "read":
			script = "cat " + q(host)
		case "rm":
			script = "rm " + q(host)
		case "ls":
			script = "LC_ALL=C ls -A " + q(host) + " | tr '\\n' ' ' | sed 's/ $//'"
		}
		out, err := shErr(script)
		if kind != "" {
			want := strings.ToLower(kernel.KindFromID(kind).Errno().Error())
			if err == nil || !strings.Contains(strings.ToLower(out), want) {
				t.Errorf("line %d: %s: err %v, output %q; want it to fail with %q", n, script, err, out, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("line %d: %s: %v: %s", n, script, err, out)
			continue
		}
		if (op == "read" || op == "ls") && (contains && !strings.Contains(out, data) || !contains && out != data) {
			t.Errorf("line %d: %s = %q, want %q", n, script, out, data)
		}
	}
}

// Real tools on the control files: echo, rsync both ways, an editor's
// rename-on-save, sed -i, tail -f on the log, a blocking read of events.
func TestControlFilesWithTools(t *testing.T) {
	in := newInstance(t)
	routes := in.path("net/routes")

	sh(t, "echo blog > "+q(routes+"/blog.example.com"))
	if got := sh(t, "cat "+q(routes+"/blog.example.com")); got != "blog\n" {
		t.Fatalf("echo then cat: %q", got)
	}
	// stat reports the true size, so rsync copies the content.
	local := t.TempDir()
	sh(t, "rsync -a "+q(routes+"/")+" "+q(local+"/"))
	if b, _ := os.ReadFile(filepath.Join(local, "blog.example.com")); string(b) != "blog\n" {
		t.Fatalf("rsync out of the mount: %q", b)
	}
	os.WriteFile(filepath.Join(local, "www.example.com"), []byte("redirect https://blog.example.com/\n"), 0o644)
	os.WriteFile(filepath.Join(local, "blog.example.com"), []byte("blog2\n"), 0o644)
	sh(t, "rsync -a "+q(local+"/")+" "+q(routes+"/"))
	if got := sh(t, "cat "+q(routes+"/www.example.com")+" "+q(routes+"/blog.example.com")); got != "redirect https://blog.example.com/\nblog2\n" {
		t.Fatalf("rsync into the mount: %q", got)
	}
	// An editor's save: write a temporary file, rename it over.
	sh(t, "cd "+q(routes)+" && printf 'saved\\n' > .blog.example.com.swp && mv .blog.example.com.swp blog.example.com")
	if got := sh(t, "cat "+q(routes+"/blog.example.com")); got != "saved\n" {
		t.Fatalf("rename-on-save: %q", got)
	}
	sh(t, "sed -i 's/saved/edited/' "+q(routes+"/blog.example.com"))
	if got := sh(t, "cat "+q(routes+"/blog.example.com")); got != "edited\n" {
		t.Fatalf("sed -i: %q", got)
	}
	if got := sh(t, "ls -A "+q(routes)); got != "blog.example.com\nwww.example.com\n" {
		t.Fatalf("left behind: %q", got)
	}
	// A bad value through rename-on-save is refused, the route kept.
	if out, err := shErr("cd " + q(routes) + " && printf 'no good\\n' > .x.tmp && mv .x.tmp blog.example.com"); err == nil {
		t.Fatalf("a bad value was renamed in: %s", out)
	}
	if got := sh(t, "cat "+q(routes+"/blog.example.com")); got != "edited\n" {
		t.Fatalf("after a refused save: %q", got)
	}

	// tail -f follows the log.
	var tailOut bytes.Buffer
	tail := exec.Command("tail", "-n", "0", "-f", in.path("proc/log"))
	tail.Dir = "/"
	tail.Stdout = &tailOut
	tail.Start()
	defer tail.Process.Kill()
	// tail may start reading after a first warning: warn until it sees one.
	warned := time.Time{}
	waitUntil(t, 60*time.Second, func() bool {
		if time.Since(warned) > time.Second {
			shErr("echo nonsense > " + q(in.path("proc/ctl"))) // logs a warning
			warned = time.Now()
		}
		return strings.Contains(tailOut.String(), "control write failed")
	}, func() string { return "tail -f saw: " + tailOut.String() })

	// A read of /proc/events.stream blocks until something happens.
	var evOut bytes.Buffer
	cat := exec.Command("cat", in.path("proc/events.stream"))
	cat.Dir = "/"
	cat.Stdout = &evOut
	cat.Start()
	defer cat.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	if evOut.Len() != 0 {
		t.Fatalf("events before anything happened: %q", evOut.String())
	}
	// cat may start reading after a first change: change until it sees one.
	added, n := time.Time{}, 0
	waitUntil(t, 60*time.Second, func() bool {
		if time.Since(added) > time.Second {
			n++
			if out, err := in.fazt("net", "route", "add", fmt.Sprintf("new%d.example.com", n), "blog"); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			added = time.Now()
		}
		return regexp.MustCompile(` net route new[0-9]+\.example\.com blog\n`).MatchString(evOut.String())
	}, func() string { return "events: " + evOut.String() })
}

func waitUntil(t *testing.T, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The CLI (through the socket) and the mount see the same state at once.
func TestCLIAndMountAgree(t *testing.T) {
	in := newInstance(t)
	routes := in.path("net/routes")
	// The kernel has just been asked about the name, and cached its absence.
	if _, err := os.Stat(routes + "/a.example.com"); !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if out, err := in.fazt("net", "route", "add", "a.example.com", "site-a"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got := sh(t, "cat "+q(routes+"/a.example.com")); got != "site-a\n" {
		t.Fatalf("mount after CLI: %q", got)
	}
	sh(t, "echo site-b > "+q(routes+"/b.example.com"))
	out, err := in.fazt("net", "route", "ls")
	if err != nil || out != "a.example.com site-a\nb.example.com site-b\n" {
		t.Fatalf("CLI after mount: %q %v", out, err)
	}
	if out, err := in.fazt("net", "route", "rm", "a.example.com"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := os.Stat(routes + "/a.example.com"); !os.IsNotExist(err) {
		t.Fatalf("mount still shows a removed route: %v", err)
	}
	// Errors carry the kernel's reason through the socket.
	out, err = in.fazt("net", "route", "add", "BAD.example.com", "x")
	if err == nil || !strings.Contains(out, "host names are lower case") {
		t.Fatalf("bad host through the CLI: %v %q", err, out)
	}
	out, err = in.fazt("storage", "backup")
	if err == nil || !strings.Contains(out, "no replica is configured") {
		t.Fatalf("backup: %v %q", err, out)
	}
	if out, err := in.fazt("storage", "checkpoint"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, _ := in.fazt("storage", "status", "--raw"); !strings.Contains(out, "last_checkpoint ok") {
		t.Fatalf("storage status: %q", out)
	}
	if out, _ := in.fazt("storage", "migrate"); !strings.HasPrefix(out, "0001_vfs.sql applied\n0002_routes.sql applied\n") || strings.Count(out, " applied\n") != strings.Count(out, "\n") {
		t.Fatalf("storage migrate: %q", out)
	}
	// TLS settings through the CLI land in the tree.
	if out, err := in.fazt("net", "acme", "email", "ops@example.com"); err != nil {
		t.Fatalf("acme email: %v %s", err, out)
	}
	if out, err := in.fazt("net", "acme", "ca", "http://plain.example/dir"); err == nil || !strings.Contains(out, "want an https:// URL") {
		t.Fatalf("acme ca over http: %v %q", err, out)
	}
	if got := sh(t, "cat "+q(in.path("net/status"))); !strings.Contains(got, "acme_email ops@example.com\n") || !strings.Contains(got, "tls off\n") {
		t.Fatalf("net status: %q", got)
	}
	if out, err := in.fazt("net", "https"); err != nil || out != ":8443\n" {
		t.Fatalf("net https: %v %q", err, out)
	}
	if out, err := in.fazt("net", "cert", "renew", "nowhere.example.com"); err == nil || !strings.Contains(out, "no route for nowhere.example.com") {
		t.Fatalf("cert renew of an unrouted host: %v %q", err, out)
	}
	if out, err := in.fazt("net", "cert", "renew", "b.example.com"); err == nil || !strings.Contains(out, "TLS is off") {
		t.Fatalf("cert renew with TLS off: %v %q", err, out)
	}
	if out, err := in.fazt("net", "cert", "ls"); err != nil || out != "" {
		t.Fatalf("cert ls: %v %q", err, out)
	}
	if out, _ := in.fazt("proc", "status", "--raw"); !strings.Contains(out, fmt.Sprintf("pid %d\n", in.pid())) {
		t.Fatalf("proc status: %q", out)
	}
	// The same commands with no kernel running give the same answers.
	if out, err := in.fazt("proc", "stop"); err != nil || !strings.Contains(out, "stopped") {
		t.Fatalf("proc stop: %v %q", err, out)
	}
	if _, err := os.Stat(routes); err == nil {
		t.Fatal("the mount survived proc stop")
	}
	out, err = in.fazt("net", "route", "ls")
	if err != nil || out != "b.example.com site-b\n" {
		t.Fatalf("in-process route ls: %q %v", out, err)
	}
	out, err = in.fazt("net", "route", "add", "BAD.example.com", "x")
	if err == nil || !strings.Contains(out, "host names are lower case") {
		t.Fatalf("in-process bad host: %v %q", err, out)
	}
	if out, err := in.fazt("proc", "status"); err == nil || !strings.Contains(out, "no kernel is running") {
		t.Fatalf("status without a kernel: %v %q", err, out)
	}
	// The socket is private.
	in.mount()
	st, err := os.Stat(filepath.Join(in.home, "fazt.sock"))
	if err != nil || st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket: %v %v", st.Mode(), err)
	}
}

// fazt fs mount with a kernel already running (fazt proc start) asks that
// kernel to mount; unmounting leaves it running; proc stop ends it.
func TestMountThroughRunningKernel(t *testing.T) {
	fusetest.Require(t)
	base := t.TempDir()
	in := &instance{t: t, home: filepath.Join(base, "data"), mnt: filepath.Join(base, "mnt"), bin: faztBin}
	t.Cleanup(in.cleanup)
	start := exec.Command(faztBin, "--data", in.home, "proc", "start")
	start.Dir = "/"
	var logs bytes.Buffer
	start.Stdout, start.Stderr = &logs, &logs
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- start.Wait() }()
	waitUntil(t, 60*time.Second, func() bool { _, err := os.Stat(filepath.Join(in.home, "fazt.sock")); return err == nil },
		func() string { return logs.String() })

	if out, err := in.fazt("fs", "mount", in.mnt); err != nil || !strings.Contains(out, fmt.Sprintf("kernel pid %d", start.Process.Pid)) {
		t.Fatalf("mount through the running kernel: %v %q", err, out)
	}
	sh(t, "echo hi > "+q(in.path("fs/hi.txt")))
	if out, err := in.fazt("fs", "cat", "/fs/hi.txt"); err != nil || out != "hi\n" {
		t.Fatalf("cat: %v %q", err, out)
	}
	if out, err := in.fazt("fs", "umount", in.mnt); err != nil {
		t.Fatalf("umount: %v %q", err, out)
	}
	if out, err := in.fazt("proc", "status", "--raw"); err != nil || !strings.Contains(out, "mounts -\n") {
		t.Fatalf("the kernel should run on, unmounted: %v %q", err, out)
	}
	if out, err := in.fazt("proc", "stop"); err != nil {
		t.Fatalf("stop: %v %q", err, out)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("proc start exited with %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("proc start did not exit after proc stop")
	}
	if _, err := os.Stat(filepath.Join(in.home, "fazt.sock")); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}
