package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"

	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/internal/fusetest"
	"github.com/fazt-sh/fazt/storage"
)

var faztBin string

func TestMain(m *testing.M) {
	if os.Getenv(sqliteWorkerEnv) != "" {
		os.Exit(sqliteWorker())
	}
	dir, err := os.MkdirTemp("", "fazt-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	faztBin = filepath.Join(dir, "fazt")
	gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	// The CLI's caches (deploy digests) go to a directory of the tests,
	// not to the user's; Go's build cache stays where it is.
	if out, err := exec.Command(gocmd, "env", "GOCACHE").Output(); err == nil {
		os.Setenv("GOCACHE", strings.TrimSpace(string(out)))
	}
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	build := exec.Command(gocmd, "build", "-tags", "", "-ldflags", "-X main.version=e2e", "-o", faztBin, "../../cmd/fazt")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fazt:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is a data directory with its tree mounted by a background kernel.
type instance struct {
	t    *testing.T
	home string
	mnt  string
	bin  string // the fazt binary it runs: faztBin unless the test upgrades it
}

func newInstance(t *testing.T, extra ...string) *instance {
	t.Helper()
	return newInstanceOf(t, faztBin, extra...)
}

func newInstanceOf(t *testing.T, bin string, extra ...string) *instance {
	t.Helper()
	fusetest.Require(t)
	base := t.TempDir()
	in := &instance{t: t, home: filepath.Join(base, "data"), mnt: filepath.Join(base, "mnt"), bin: bin}
	in.mount(extra...)
	t.Cleanup(in.cleanup)
	return in
}

func (in *instance) mount(extra ...string) {
	in.t.Helper()
	out, err := in.fazt(append([]string{"fs", "mount", in.mnt}, extra...)...)
	if err != nil {
		in.t.Fatalf("fazt fs mount: %v\n%s\nlog:\n%s", err, out, in.log())
	}
}

func (in *instance) log() string {
	b, _ := os.ReadFile(filepath.Join(in.home, "log", "fazt.log"))
	return string(b)
}

// cleanup unmounts (lazily, whatever state the test left), waits for the
// kernel to let go of the data directory, and ends its supervisors.
func (in *instance) cleanup() {
	exec.Command(in.bin, "--data", in.home, "fs", "umount", "--lazy", in.mnt).Run()
	exec.Command("umount", "-l", in.mnt).Run()
	deadline := time.Now().Add(10 * time.Second)
	for pid := in.pid(); pid != 0 && time.Now().Before(deadline); pid = in.pid() {
		time.Sleep(20 * time.Millisecond)
	}
	// Supervisors too, kernel or not: one whose kernel cannot start (the
	// test failed, or removed what it needs) would try again forever.
	in.killSupervisors()
	if pid := in.pid(); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// crash kills the kernel and its supervisor with SIGKILL, as a power cut
// would, and waits for the kernel to let go of the data directory.
func (in *instance) crash() {
	in.t.Helper()
	pid := in.pid()
	if pid == 0 {
		in.t.Fatal("no kernel to kill")
	}
	in.killSupervisors()
	syscall.Kill(pid, syscall.SIGKILL)
	waitUntil(in.t, time.Minute, func() bool { return in.pid() == 0 }, func() string { return "the kernel holds on" })
}

// killSupervisors kills (SIGKILL) the supervisors of in's kernels.
func (in *instance) killSupervisors() {
	for _, s := range in.supervisors() {
		if pid, _ := strconv.Atoi(s); pid != 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// pid is the pid of the kernel holding the data directory, or 0.
func (in *instance) pid() int {
	f, err := os.Open(filepath.Join(in.home, "fazt.lock"))
	if err != nil {
		return 0
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0
	}
	b, _ := io.ReadAll(f)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "pid "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// fazt runs the binary on this instance's data directory.
func (in *instance) fazt(args ...string) (string, error) {
	cmd := exec.Command(in.bin, append([]string{"--data", in.home}, args...)...)
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (in *instance) path(p string) string { return filepath.Join(in.mnt, p) }

// sh runs a bash script and fails the test if it fails.
func sh(t *testing.T, script string) string {
	t.Helper()
	out, err := shErr(script)
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return out
}

func shErr(script string) (string, error) {
	cmd := exec.Command("bash", "-c", "set -eo pipefail\n"+script)
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// integrity opens the database exactly as fazt does and checks it.
func integrity(t *testing.T, home string) {
	t.Helper()
	db, err := storage.Open(context.Background(), filepath.Join(home, "fazt.db"),
		storage.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// manifest describes a tree: type, mode, owner, size (not for directories),
// mtime in seconds, name and link target, one line per entry.
func manifest(t *testing.T, dir string) string {
	t.Helper()
	out := sh(t, "cd "+q(dir)+" && find . -mindepth 1 -exec stat -c '%F|%a|%u:%g|%s|%Y|%N' {} +")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(l, "|", 6)
		if f[0] == "directory" {
			f[3] = "-" // sizes of directories are the file system's business
		}
		lines = append(lines, strings.Join(f, "|"))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func checksums(t *testing.T, dir string) string {
	t.Helper()
	return sh(t, "cd "+q(dir)+" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum")
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, x, y))
			if len(out) > 5 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// The Go source tree through tar, cp, find, ls, du and sha256sum.
func TestRealTreeThroughTools(t *testing.T) {
	in := newInstance(t)
	src := filepath.Join(runtime.GOROOT(), "src")
	tarball := filepath.Join(t.TempDir(), "src.tar")
	sh(t, "tar -cf "+q(tarball)+" -C "+q(runtime.GOROOT())+" src")

	start := time.Now()
	sh(t, "tar -xf "+q(tarball)+" -C "+q(in.path("fs")))
	t.Logf("tar -x of %s: %v", src, time.Since(start))

	dst := in.path("fs/src")
	if want, got := manifest(t, src), manifest(t, dst); want != got {
		t.Fatalf("tree differs after tar -x:\n%s", diffLines(want, got))
	}
	if want, got := checksums(t, src), checksums(t, dst); want != got {
		t.Fatalf("content differs after tar -x:\n%s", diffLines(want, got))
	}
	count := func(dir string) string {
		return sh(t, "ls -lR "+q(dir)+" | grep -c '^[-dl]'")
	}
	if a, b := count(src), count(dst); a != b {
		t.Fatalf("ls -lR lists %s entries, want %s", b, a)
	}
	sh(t, "du -sh "+q(dst))

	// cp -a inside the mount, then compare the copy.
	sh(t, "cp -a "+q(filepath.Join(dst, "net"))+" "+q(in.path("fs/netcopy")))
	if want, got := checksums(t, filepath.Join(src, "net")), checksums(t, in.path("fs/netcopy")); want != got {
		t.Fatalf("cp -a copy differs:\n%s", diffLines(want, got))
	}
	sh(t, "rm -rf "+q(dst)+" "+q(in.path("fs/netcopy")))
	if ents, err := os.ReadDir(in.path("fs")); err != nil || len(ents) != 2 { // .deploys and .staging stay
		t.Fatalf("after rm -rf: %v %v", ents, err)
	}
	integrity(t, in.home) // opened read-only next to the running kernel
}

// site writes a test site: files of varied sizes in nested directories,
// symlinks, odd modes.
func site(t *testing.T, dir string, seed int64, files int) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < files; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%02d/s%d/f%04d.txt", i%17, i%3, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		n := rng.Intn(40_000)
		if i%97 == 0 {
			n = 1<<20 + rng.Intn(1<<20)
		}
		b := make([]byte, n)
		rng.Read(b)
		if err := os.WriteFile(p, b, fs.FileMode(0o600+rng.Intn(0o177))); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("d00/s0/f0000.txt", filepath.Join(dir, "link"))
	os.Symlink("../d01", filepath.Join(dir, "d00", "up"))
}

func TestRsync(t *testing.T) {
	in := newInstance(t)
	src := filepath.Join(t.TempDir(), "site")
	site(t, src, 1, 800)
	dst := in.path("fs/site")

	start := time.Now()
	sh(t, "rsync -a "+q(src+"/")+" "+q(dst+"/"))
	t.Logf("initial rsync: %v", time.Since(start))
	if out := sh(t, "rsync -a --itemize-changes "+q(src+"/")+" "+q(dst+"/")); out != "" {
		t.Fatalf("a second rsync -a changed things:\n%s", out)
	}
	if out := sh(t, "rsync -a --checksum --dry-run --itemize-changes "+q(src+"/")+" "+q(dst+"/")); out != "" {
		t.Fatalf("content differs by checksum:\n%s", out)
	}
	if want, got := manifest(t, src), manifest(t, dst); want != got {
		t.Fatalf("tree differs:\n%s", diffLines(want, got))
	}

	// Change some files, delete some, add some.
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 20; i++ {
		p := filepath.Join(src, fmt.Sprintf("d%02d/s%d/f%04d.txt", i*7%17, i*7%3, i*7))
		b := make([]byte, rng.Intn(50_000))
		rng.Read(b)
		os.WriteFile(p, b, 0o644)
	}
	for i := 1; i < 6; i++ {
		os.Remove(filepath.Join(src, fmt.Sprintf("d%02d/s%d/f%04d.txt", (i*11)%17, (i*11)%3, i*11)))
	}
	os.WriteFile(filepath.Join(src, "new.html"), []byte("<p>new</p>"), 0o644)
	out := sh(t, "rsync -a --delete --itemize-changes "+q(src+"/")+" "+q(dst+"/"))
	if n := strings.Count(out, "\n"); n < 26 {
		t.Fatalf("rsync listed %d changes, want at least 26:\n%s", n, out)
	}
	if out := sh(t, "rsync -a --delete --itemize-changes "+q(src+"/")+" "+q(dst+"/")); out != "" {
		t.Fatalf("not a no-op after the update:\n%s", out)
	}
	if want, got := checksums(t, src), checksums(t, dst); want != got {
		t.Fatalf("content differs:\n%s", diffLines(want, got))
	}
}

func TestEditors(t *testing.T) {
	in := newInstance(t)
	p := in.path("fs/page.html")
	sh(t, "printf '<h1>old title</h1>\\n' > "+q(p))
	sh(t, "sed -i 's/old/new/' "+q(p))
	if got := sh(t, "cat "+q(p)); got != "<h1>new title</h1>\n" {
		t.Fatalf("sed -i: %q", got)
	}
	sh(t, "perl -pi -e 's/title/heading/' "+q(p))
	sh(t, "cd "+q(in.path("fs"))+" && printf 'saved\\n' > .page.html.swp && mv .page.html.swp page.html")
	if got := sh(t, "cat "+q(p)); got != "saved\n" {
		t.Fatalf("rename-on-save: %q", got)
	}
	if got := sh(t, "ls "+q(in.path("fs"))); got != "page.html\n" {
		t.Fatalf("left behind: %q", got)
	}
	// Appending, and find with -newer.
	sh(t, "echo more >> "+q(p))
	if got := sh(t, "find "+q(in.path("fs"))+" -type f -newer /etc/hostname"); !strings.Contains(got, "page.html") {
		t.Fatalf("find -newer: %q", got)
	}
}

// The CLI works on the same tree in-process and through a running kernel.
func TestCLI(t *testing.T) {
	base := t.TempDir()
	in := &instance{t: t, home: filepath.Join(base, "data"), mnt: filepath.Join(base, "mnt"), bin: faztBin}
	t.Cleanup(in.cleanup)
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(in.bin, append([]string{"--data", in.home}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fazt %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// No kernel running: each command boots one in-process.
	run("", "fs", "mkdir", "-p", "/fs/blog/css")
	run("<h1>hi</h1>", "fs", "put", "-", "/fs/blog/index.html")
	if got := run("", "fs", "cat", "fs/blog/index.html"); got != "<h1>hi</h1>" {
		t.Fatalf("cat: %q", got)
	}
	local := filepath.Join(base, "site")
	site(t, local, 3, 30)
	run("", "fs", "put", "-r", local, "/fs/blog/")
	if got := run("", "fs", "ls", "/fs/blog"); got != "css/\nindex.html\nsite/\n" {
		t.Fatalf("ls: %q", got)
	}
	// Through the mount of a running kernel: the same tree.
	in.mount()
	if got := run("", "fs", "cat", "/fs/blog/index.html"); got != "<h1>hi</h1>" {
		t.Fatalf("cat through the mount: %q", got)
	}
	if want, got := checksums(t, local), checksums(t, in.path("fs/blog/site")); want != got {
		t.Fatalf("put -r:\n%s", diffLines(want, got))
	}
	run("changed", "fs", "put", "-", "/fs/blog/index.html")
	if b, _ := os.ReadFile(in.path("fs/blog/index.html")); string(b) != "changed" {
		t.Fatalf("mount sees %q", b)
	}
	run("", "fs", "rm", "-r", "/fs/blog/site")
	if got := run("", "fs", "ls", "/fs/blog"); got != "css/\nindex.html\n" {
		t.Fatalf("ls after rm: %q", got)
	}
	if got := run("", "fs", "cat", "/proc/version"); got != "e2e\n" {
		t.Fatalf("/proc/version: %q", got)
	}
	if out := run("", "version"); !strings.HasPrefix(out, "fazt e2e ") {
		t.Fatalf("version: %q", out)
	}
}

func TestBadInput(t *testing.T) {
	in := newInstance(t)
	fails := func(script, want string) {
		t.Helper()
		out, err := shErr(script)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("%s: err=%v, output %q, want it to fail with %q", script, err, out, want)
		}
	}
	long := strings.Repeat("n", 256)
	fails("touch "+q(in.path("fs/"+long)), "File name too long")
	fails("mkdir "+q(in.path("fs/"+long)), "File name too long")
	fails("echo x > "+q(in.path("proc/status")), "Permission denied")
	fails("mkdir "+q(in.path("newtop")), "Operation not permitted")
	fails("mkdir -p "+q(in.path("fs/d/e"))+" && rmdir "+q(in.path("fs/d")), "Directory not empty")
	fails("ln "+q(in.path("fs/d"))+" "+q(in.path("fs/dlink")), "not allowed")
	fails("mv "+q(in.path("fs/d"))+" "+q(in.path("proc/d")), "")
	fails("cat "+q(in.path("fs/none")), "No such file or directory")

	cli := func(wantCode int, want string, args ...string) {
		t.Helper()
		out, err := in.fazt(args...)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != wantCode || !strings.Contains(out, want) {
			t.Errorf("fazt %v: exit %d, output %q; want exit %d with %q", args, code, out, wantCode, want)
		}
	}
	cli(1, "no such file or directory", "fs", "cat", "/fs/none")
	cli(1, "file name too long", "fs", "mkdir", "/fs/"+long)
	cli(1, "no directories can be made here", "fs", "mkdir", "/proc/x")
	cli(1, "already running", "proc", "start")
	cli(1, "already mounted", "fs", "mount", in.mnt)
	cli(2, "unknown flag", "fs", "ls", "--bogus")
	cli(2, "wrong number of arguments", "fs", "cat")
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test needs root, which CI has")
	}
	t.Skip("needs root")
}

// With --allow-other, other users reach the mount and the kernel checks
// their access against the files' modes.
func TestPermissions(t *testing.T) {
	requireRoot(t)
	in := newInstance(t, "--allow-other")
	for d := filepath.Dir(in.mnt); d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // let nobody walk to the mount
	}
	sh(t, "cd "+q(in.path("fs"))+" && echo secret > private && chmod 600 private && echo open > public && chmod 644 public && mkdir shared && chmod 777 shared")
	as := func(script string) (string, error) {
		return shErr("setpriv --reuid=65534 --regid=65534 --clear-groups bash -c " + q(script))
	}
	if out, err := as("cat " + q(in.path("fs/public"))); err != nil || out != "open\n" {
		t.Fatalf("nobody reading a 0644 file: %v %q", err, out)
	}
	if out, err := as("cat " + q(in.path("fs/private"))); err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("nobody reading a 0600 file: %v %q", err, out)
	}
	if out, err := as("touch " + q(in.path("fs/nope"))); err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("nobody creating in a 0755 root-owned dir: %v %q", err, out)
	}
	if out, err := as("echo mine > " + q(in.path("fs/shared/mine"))); err != nil {
		t.Fatalf("nobody creating in a 0777 dir: %v %q", err, out)
	}
	if got := sh(t, "stat -c %u:%g "+q(in.path("fs/shared/mine"))); got != "65534:65534\n" {
		t.Fatalf("new file owned by %q, want nobody", got)
	}
	if out, err := as("chown 0 " + q(in.path("fs/shared/mine"))); err == nil {
		t.Fatalf("nobody gave a file to root: %q", out)
	}
}

func fileSum(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// kill -9 of the kernel in the middle of an rsync: after a restart the
// database is intact and every file is its old or its new content, whole.
func TestKillDuringRsync(t *testing.T) {
	if _, err := interruptRsync(t, syscall.SIGKILL); err == nil {
		t.Log("rsync finished before the kill; the checks still hold")
	}
}

// interruptRsync sends sig to the kernel while rsync replaces a site in
// the mount, checks that rsync ends (with an error, or done), that the
// database is whole and every file is old or new, and that rsync can then
// finish. It returns the kernel's log at its end and rsync's error.
func interruptRsync(t *testing.T, sig syscall.Signal) (string, error) {
	in := newInstance(t)
	base := t.TempDir()
	oldSite, newSite := filepath.Join(base, "old"), filepath.Join(base, "new")
	site(t, oldSite, 10, 600)
	site(t, newSite, 11, 900) // same names, new content, more files
	dst := in.path("fs/site")
	sh(t, "rsync -a "+q(oldSite+"/")+" "+q(dst+"/"))

	sums := func(dir string) map[string]string {
		m := map[string]string{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				rel, _ := filepath.Rel(dir, p)
				m[rel], _ = fileSum(p)
			}
			return nil
		})
		return m
	}
	oldSums, newSums := sums(oldSite), sums(newSite)

	rsync := exec.Command("rsync", "-a", "--delete", newSite+"/", dst+"/")
	rsync.Dir = "/"
	if err := rsync.Start(); err != nil {
		t.Fatal(err)
	}
	// Let it get well under way, then kill the kernel.
	time.Sleep(time.Duration(300+rand.Intn(300)) * time.Millisecond)
	pid := in.pid()
	if pid == 0 {
		t.Fatal("no kernel pid")
	}
	if sig == syscall.SIGKILL {
		in.killSupervisors() // a crash of everything, restarted below by hand
	}
	syscall.Kill(pid, sig)
	waited := make(chan error, 1)
	go func() { waited <- rsync.Wait() }()
	var rsyncErr error
	select {
	case rsyncErr = <-waited:
	case <-time.After(time.Minute):
		rsync.Process.Kill()
		t.Fatalf("rsync still runs a minute after the kernel got %v", sig)
	}
	waitUntil(t, time.Minute, func() bool { return in.pid() == 0 }, func() string { return "the kernel holds on:\n" + in.log() })
	kernelLog := in.log()
	integrity(t, in.home)
	in.mount() // cleans the stale mount first

	seen := sums(dst)
	var old, neu, temp int
	for rel, sum := range seen {
		base := filepath.Base(rel)
		if strings.HasPrefix(base, ".") { // rsync's temporary file
			temp++
			name := strings.TrimPrefix(base, ".")
			name = name[:strings.LastIndex(name, ".")]
			want := newSums[filepath.Join(filepath.Dir(rel), name)]
			empty := sha256.Sum256(nil)
			if sum != want && sum != hex.EncodeToString(empty[:]) {
				t.Errorf("temporary %s is neither empty nor the complete new file", rel)
			}
			continue
		}
		switch sum {
		case oldSums[rel]:
			old++
		case newSums[rel]:
			neu++
		default:
			t.Errorf("%s is neither its old nor its new content", rel)
		}
	}
	t.Logf("after the kill: %d files old, %d new, %d temporaries", old, neu, temp)
	// And rsync can finish the job.
	sh(t, "rsync -a --delete "+q(newSite+"/")+" "+q(dst+"/"))
	if want, got := checksums(t, newSite), checksums(t, dst); want != got {
		t.Fatalf("after resuming:\n%s", diffLines(want, got))
	}
	return kernelLog, rsyncErr
}

// fazt proc restart: a new kernel on the same mount, the data kept.
func TestProcRestart(t *testing.T) {
	in := newInstance(t)
	sh(t, "echo kept > "+q(in.path("fs/kept.txt")))
	old := in.pid()
	out, err := in.fazt("proc", "restart")
	if err != nil || !strings.Contains(out, "restarted the kernel") {
		t.Fatalf("restart: %v %s\n%s", err, out, in.log())
	}
	if pid := in.pid(); pid == 0 || pid == old {
		t.Fatalf("pid %d after the restart (was %d)", pid, old)
	}
	waitUntil(t, 60*time.Second, func() bool {
		b, err := os.ReadFile(in.path("fs/kept.txt"))
		return err == nil && string(b) == "kept\n"
	}, func() string { return "the mount is not back" })
	// Started by fazt fs mount, it still stops when unmounted.
	if out, err := in.fazt("fs", "umount", in.mnt); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	waitUntil(t, 60*time.Second, func() bool { return in.pid() == 0 }, func() string { return "the restarted kernel outlived its mount" })
	if out, err := exec.Command(faztBin, "--data", t.TempDir(), "proc", "restart").CombinedOutput(); err == nil || !strings.Contains(string(out), "no kernel is running") {
		t.Fatalf("restart without a kernel: %v %s", err, out)
	}
}
