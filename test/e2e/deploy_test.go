package e2e

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// sameTree waits until the mount shows dir as src has it: the mount learns
// of changes made through the API (an exchange of trees) just after they
// commit.
func sameTree(t *testing.T, src, dir string) {
	t.Helper()
	var a, b string
	waitUntil(t, 60*time.Second, func() bool {
		a, b = checksums(t, src), checksums(t, dir)
		return a == b
	}, func() string { return "trees differ:\n" + diffLines(a, b) })
}

// versionedSite writes n files, each naming its version and padded to a
// known size, into dir.
func versionedSite(t *testing.T, dir string, version, n int) {
	t.Helper()
	writeSite(t, dir, n, func(i int) string {
		return fmt.Sprintf("version %d file %d\n", version, i) + strings.Repeat("x", 2000+i)
	})
}

// writeSite writes n files, dN/fNNN.txt, with body(i), into dir (emptied).
func writeSite(t *testing.T, dir string, n int, body func(i int) string) {
	t.Helper()
	os.RemoveAll(dir)
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%d/f%03d.txt", i%4, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A visitor reading every file of the site, again and again, while syncs
// replace it never sees a file of a newer version before one of an older
// in the same pass, nor a partial file: each switch is one step.
func TestDeployAtomic(t *testing.T) {
	in := newInstance(t)
	port := freePort(t)
	sh(t, fmt.Sprintf("cd %s && echo 127.0.0.1:%d > net/http && echo blog > net/routes/blog.test", q(in.mnt), port))
	src := t.TempDir()
	const n = 40
	versionedSite(t, src, 1, n)
	if out, err := in.fazt("fs", "sync", src, "/fs/blog"); err != nil {
		t.Fatalf("sync: %v %s", err, out)
	}
	var stop atomic.Bool
	var passes, switches atomic.Int64
	errs := make(chan error, 1)
	go func() {
		client := &http.Client{Timeout: 5 * time.Second}
		for !stop.Load() {
			last := 0
			// Backwards: the opposite of the order files are sent in.
			for i := n - 1; i >= 0; i-- {
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/d%d/f%03d.txt", port, i%4, i), nil)
				req.Host = "blog.test"
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var v, f int
				if _, err := fmt.Sscanf(string(body), "version %d file %d", &v, &f); err != nil || f != i || len(body) != len(fmt.Sprintf("version %d file %d\n", v, i))+2000+i {
					errs <- fmt.Errorf("file %d: status %d, a partial or wrong file: %.40q (%d bytes)", i, resp.StatusCode, body, len(body))
					return
				}
				if v < last {
					errs <- fmt.Errorf("pass saw version %d after version %d: a mixed site", v, last)
					return
				}
				if last != 0 && v != last {
					switches.Add(1)
				}
				last = v
			}
			passes.Add(1)
		}
		errs <- nil
	}()
	// After each switch the visitor makes a whole pass more (however
	// slow the machine), so every version is seen whole.
	var visitorErr error
	passed := func(after int64) func() bool {
		return func() bool {
			select {
			case visitorErr = <-errs:
				return true
			default:
			}
			return passes.Load() > after
		}
	}
	for v := 2; v <= 6 && visitorErr == nil; v++ {
		versionedSite(t, src, v, n)
		if out, err := in.fazt("fs", "sync", src, "/fs/blog", "--delete"); err != nil {
			t.Fatalf("sync v%d: %v %s", v, err, out)
		}
		waitUntil(t, 60*time.Second, passed(passes.Load()), func() string { return "the visitor made no pass after a switch" })
	}
	stop.Store(true)
	if visitorErr == nil {
		visitorErr = <-errs
	}
	if visitorErr != nil {
		t.Fatal(visitorErr)
	}
	t.Logf("%d passes, %d seen mid-pass switches", passes.Load(), switches.Load())
	waitUntil(t, 60*time.Second, func() bool {
		return sh(t, "head -c 9 "+q(in.path("fs/blog/d0/f000.txt"))) == "version 6"
	}, func() string { return "the live site is not version 6" })
}

// Only what changed travels; a sync killed halfway leaves the live site
// as it was and the next one resumes; rollback and roll forward; ignore
// files; dry run; --delete.
func TestDeployResumeRollback(t *testing.T) {
	in := newInstance(t)
	src := t.TempDir()
	versionedSite(t, src, 1, 30)
	os.WriteFile(filepath.Join(src, ".gitignore"), []byte("*.log\nsecret/\n"), 0o644)
	os.WriteFile(filepath.Join(src, "debug.log"), []byte("no"), 0o644)
	os.MkdirAll(filepath.Join(src, "secret"), 0o755)
	os.WriteFile(filepath.Join(src, "secret", "key"), []byte("no"), 0o644)
	os.MkdirAll(filepath.Join(src, ".git"), 0o755)
	os.WriteFile(filepath.Join(src, ".git", "HEAD"), []byte("no"), 0o644)
	out, err := in.fazt("deploy", src, "blog")
	if err != nil || !strings.Contains(out, "30 files, 30 sent") {
		t.Fatalf("first deploy: %v %s", err, out)
	}
	for _, p := range []string{"debug.log", "secret", ".git", ".gitignore"} {
		if _, err := os.Lstat(in.path("fs/blog/" + p)); err == nil {
			t.Fatalf("%s was deployed", p)
		}
	}
	first := strings.Fields(sh(t, "cat "+q(in.path("fs/.deploys/blog/.live"))))[0]
	// Nothing changed: nothing sent, no new deploy.
	if out, err := in.fazt("deploy", src, "blog"); err != nil || !strings.Contains(out, "0 sent") || !strings.Contains(out, first) {
		t.Fatalf("no-op deploy: %v %s", err, out)
	}
	// Two files change, one goes: a dry run says so and changes nothing.
	os.WriteFile(filepath.Join(src, "d1/f001.txt"), []byte("changed\n"), 0o644)
	os.WriteFile(filepath.Join(src, "d2/f002.txt"), []byte("changed too\n"), 0o644)
	os.Remove(filepath.Join(src, "d3/f003.txt"))
	out, err = in.fazt("deploy", src, "blog", "--delete", "--dry-run")
	if err != nil || !strings.Contains(out, "2 to send") || !strings.Contains(out, "1 to remove") {
		t.Fatalf("dry run: %v %s", err, out)
	}
	if _, err := os.Stat(in.path("fs/blog/d3/f003.txt")); err != nil {
		t.Fatal("a dry run removed a file")
	}
	out, err = in.fazt("deploy", src, "blog", "--delete")
	if err != nil || !strings.Contains(out, "2 sent") || !strings.Contains(out, "1 removed") {
		t.Fatalf("second deploy: %v %s", err, out)
	}

	// A big deploy killed halfway: the live site is untouched.
	big := t.TempDir()
	versionedSite(t, big, 9, 30)
	blob := make([]byte, 64<<20)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	for i := 0; i < 4; i++ {
		os.WriteFile(filepath.Join(big, fmt.Sprintf("blob%d.bin", i)), blob[:len(blob)-i], 0o644)
	}
	before := checksums(t, in.path("fs/blog"))
	cmd := exec.Command(faztBin, "--data", in.home, "deploy", big, "blog")
	cmd.Dir = "/"
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, func() bool {
		// The small files go first, the blobs after them: kill it once
		// the small files are there.
		b, _ := os.ReadFile(in.path("fs/.staging/blog/d1/f001.txt"))
		return bytes.HasPrefix(b, []byte("version 9"))
	}, func() string { return "the deploy never started sending: " + buf.String() })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if after := checksums(t, in.path("fs/blog")); after != before {
		t.Fatalf("a killed deploy changed the live site:\n%s", diffLines(before, after))
	}
	out, err = in.fazt("deploy", big, "blog", "--delete")
	if err != nil {
		t.Fatalf("resumed deploy: %v %s", err, out)
	}
	var sent int
	fmt.Sscanf(out[strings.Index(out, "files, ")+len("files, "):], "%d sent", &sent)
	if sent >= 34 {
		t.Fatalf("the resumed deploy sent everything again: %s", out)
	}
	sameTree(t, big, in.path("fs/blog"))

	// Rollback, then forward again.
	ls, _ := in.fazt("deploy", "ls", "blog")
	lines := strings.Split(strings.TrimSpace(ls), "\n")
	live := strings.Fields(lines[len(lines)-1])[0]
	if !strings.Contains(lines[len(lines)-1], " live  ") || !strings.Contains(lines[len(lines)-1], "files 34, sent ") {
		t.Fatalf("deploy ls:\n%s", ls)
	}
	if out, err := in.fazt("deploy", "rollback", "blog"); err != nil {
		t.Fatalf("rollback: %v %s", err, out)
	}
	waitUntil(t, 60*time.Second, func() bool {
		_, err := os.Stat(in.path("fs/blog/blob0.bin"))
		return err != nil
	}, func() string { return "rollback kept the new files" })
	// Each deploy's status file, in the history view, says which is live.
	prev := strings.Fields(lines[len(lines)-2])[0]
	waitUntil(t, 60*time.Second, func() bool {
		a, _ := os.ReadFile(in.path("deploys/blog/" + live + ".status"))
		b, _ := os.ReadFile(in.path("deploys/blog/" + prev + ".status"))
		return strings.HasPrefix(string(a), "state past\nid "+live+"\n") && strings.HasPrefix(string(b), "state live\nid "+prev+"\n")
	}, func() string {
		return "status files after a rollback: " + sh(t, "head -n 3 "+q(in.path("deploys/blog/"+live+".status"))+" "+q(in.path("deploys/blog/"+prev+".status")))
	})
	if out, err := in.fazt("deploy", "rollback", "blog", live); err != nil {
		t.Fatalf("roll forward: %v %s", err, out)
	}
	sameTree(t, big, in.path("fs/blog"))
	// The history, read-only in /deploys.
	past := strings.Fields(sh(t, "ls "+q(in.path("deploys/blog"))))
	if len(past) < 2 || !strings.Contains(sh(t, "cat "+q(in.path("deploys/blog/.log"))), "rollback") {
		t.Fatalf("/deploys/blog: %v", past)
	}
	if got := sh(t, "head -c 9 "+q(in.path("deploys/blog/"+first+"/d0/f000.txt"))); got != "version 1" {
		t.Fatalf("a past deploy's file: %q", got)
	}
	if out, err := shErr("echo x > " + q(in.path("deploys/blog/"+first+"/d0/f000.txt"))); err == nil || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("writing history: %v %q", err, out)
	}
	if out, err := in.fazt("deploy", "rollback", "blog", "nosuch"); err == nil || !strings.Contains(out, "no past deploy") {
		t.Fatalf("rollback to nothing: %v %s", err, out)
	}
	integrity(t, in.home)
}

// A token scoped to one site deploys it remotely, and cannot deploy
// another.
func TestDeployRemoteScoped(t *testing.T) {
	in := newInstance(t)
	base := remoteSetup(t, in)
	_, tok := mint(t, in, "ci", "write:/fs/blog")
	src := t.TempDir()
	versionedSite(t, src, 3, 25)
	remote := remoteCLI(t, base, tok)
	for i := 0; i < 2; i++ {
		if out, err := remote("deploy", src, "blog", "--delete"); err != nil {
			t.Fatalf("remote deploy: %v %s", err, out)
		}
	}
	sameTree(t, src, in.path("fs/blog"))
	// The log names the token, as the server knows it.
	if log := sh(t, "cat "+q(in.path("fs/.deploys/blog/.log"))); !strings.Contains(log, "by token:ci (") {
		t.Fatalf("the site's log: %s", log)
	}
	if out, err := remote("deploy", "rollback", "blog"); err != nil {
		t.Fatalf("remote rollback: %v %s", err, out)
	}
	if out, err := remote("deploy", src, "other"); err == nil || !strings.Contains(out, "no such file") {
		t.Fatalf("deploy of another site: %v %s", err, out)
	}
	if out := sh(t, "ls -A "+q(in.path("fs/other"))); out != "secret.txt\n" {
		t.Fatalf("fs/other after a refused deploy: %q", out)
	}
}

// Two deploys of one site at once: the second is refused while the first
// runs, and works after.
func TestDeployLock(t *testing.T) {
	in := newInstance(t)
	big := t.TempDir()
	versionedSite(t, big, 1, 10)
	blob := bytes.Repeat([]byte("0123456789abcdef"), 8<<20) // 128 MiB
	os.WriteFile(filepath.Join(big, "a.bin"), blob, 0o644)
	cmd := exec.Command(faztBin, "--data", in.home, "deploy", big, "blog")
	cmd.Dir = "/"
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, func() bool {
		_, err := os.Stat(in.path("fs/.deploys/blog/.lock/owner"))
		return err == nil
	}, func() string { return "no lock: " + buf.String() })
	// Held still, holding the lock, however fast the machine would
	// otherwise finish it.
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Signal(syscall.SIGCONT)
	other := t.TempDir()
	versionedSite(t, other, 2, 10)
	out, err := in.fazt("deploy", other, "blog")
	if err == nil || !strings.Contains(out, "another deploy of blog is running") {
		t.Fatalf("a concurrent deploy: %v %s", err, out)
	}
	// Nor a rollback, from the CLI or the mount.
	if out, err := in.fazt("deploy", "rollback", "blog"); err == nil || !strings.Contains(out, "another deploy of blog is running") {
		t.Fatalf("a rollback during a deploy: %v %s", err, out)
	}
	if out, err := shErr("echo rollback blog > " + q(in.path("deploys/ctl"))); err == nil || !strings.Contains(out, "busy") {
		t.Fatalf("a rollback through /deploys/ctl during a deploy: %v %s", err, out)
	}
	cmd.Process.Signal(syscall.SIGCONT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("first deploy: %v %s", err, buf.String())
	}
	// (the mount learns of changes made through the API just after they
	// commit)
	waitUntil(t, 60*time.Second, func() bool {
		_, err := os.Stat(in.path("fs/.deploys/blog/.lock"))
		return err != nil
	}, func() string { return "the lock stayed" })
	if out, err := in.fazt("deploy", other, "blog", "--delete"); err != nil {
		t.Fatalf("the second deploy, after: %v %s", err, out)
	}
	sameTree(t, other, in.path("fs/blog"))
}

// bigSite writes n files of 128 KB, each its own content for version.
func bigSite(t *testing.T, dir string, version, n int) {
	t.Helper()
	writeSite(t, dir, n, func(i int) string {
		head := fmt.Sprintf("version %d file %d\n", version, i)
		return head + strings.Repeat(head, 128<<10/len(head))
	})
}

// Content fazt already holds is stored once, and over the remote API not
// sent again: a second site with the same files sends nothing; a moved file
// is linked from the live tree. A scoped token links only to what it may
// read (no telling whether content exists elsewhere), which includes its own
// site's history.
func TestDeployDedup(t *testing.T) {
	in := newInstance(t)
	src := t.TempDir()
	bigSite(t, src, 3, 40) // 5 MB: past what makes the whole of /fs worth looking at
	stored := func() int { return storedBytes(t, in) }
	if out, err := in.fazt("deploy", src, "alpha"); err != nil || !strings.Contains(out, "40 files, 40 sent") {
		t.Fatalf("first site: %v %s", err, out)
	}
	before := stored()
	// Locally the files travel (no network to spare) but are stored once.
	if out, err := in.fazt("deploy", src, "beta"); err != nil || !strings.Contains(out, "40 files, 40 sent") {
		t.Fatalf("second site, locally: %v %s", err, out)
	}
	if after := stored(); after-before > 1024 { // the site is 40 x 128 KB
		t.Fatalf("stored bytes %d -> %d: content stored again", before, after)
	}
	sameTree(t, src, in.path("fs/beta"))

	base := remoteSetup(t, in)
	token := func(name string, scopes ...string) func(args ...string) string {
		_, tok := mint(t, in, name, scopes...)
		remote := remoteCLI(t, base, tok)
		return func(args ...string) string {
			t.Helper()
			out, err := remote(args...)
			if err != nil {
				t.Fatalf("remote %v: %v %s", args, err, out)
			}
			return out
		}
	}
	// A token that may read all of /fs: the same files to a third site,
	// remotely, travel not at all.
	reader := token("reader", "read:/fs", "write:/fs/gamma")
	if out := reader("deploy", src, "gamma", "--dry-run"); !strings.Contains(out, "0 to send (0 bytes), 40 to link") {
		t.Fatalf("dry run: %s", out)
	}
	if out := reader("deploy", src, "gamma"); !strings.Contains(out, "40 files, 0 sent (0 bytes), 40 linked") {
		t.Fatalf("third site, remotely: %s", out)
	}
	sameTree(t, src, in.path("fs/gamma"))
	if after := stored(); after-before > 2048 {
		t.Fatalf("stored bytes %d -> %d", before, after)
	}

	// A file moved within the site: linked from the live tree, even locally.
	os.MkdirAll(filepath.Join(src, "moved"), 0o755)
	if err := os.Rename(filepath.Join(src, "d0", "f000.txt"), filepath.Join(src, "moved", "f000.txt")); err != nil {
		t.Fatal(err)
	}
	if out, err := in.fazt("deploy", src, "alpha", "--delete"); err != nil || !strings.Contains(out, "0 sent (0 bytes), 1 linked") {
		t.Fatalf("a moved file: %v %s", err, out)
	}
	sameTree(t, src, in.path("fs/alpha"))
	// A mode change alone is deployed.
	if err := os.Chmod(filepath.Join(src, "d1", "f001.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := in.fazt("deploy", src, "alpha"); err != nil || !strings.Contains(out, "1 sent") {
		t.Fatalf("a mode change: %v %s", err, out)
	}
	if st, err := os.Stat(in.path("fs/alpha/d1/f001.txt")); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("mode after the deploy: %v %v", st.Mode(), err)
	}
	if out, err := in.fazt("deploy", src, "alpha"); err != nil || !strings.Contains(out, " 0 sent") {
		t.Fatalf("again: %v %s", err, out)
	}
	os.Chmod(filepath.Join(src, "d1", "f001.txt"), 0o644)

	// A token scoped to /fs/delta cannot read the other sites: it sends all.
	ci := token("ci", "write:/fs/delta")
	if out := ci("deploy", src, "delta"); !strings.Contains(out, "40 sent") || !strings.Contains(out, " 0 linked") {
		t.Fatalf("scoped deploy: %s", out)
	}
	// Its own history it may read: going back to an earlier version of the
	// files links them from the past deploy.
	v3 := t.TempDir()
	sh(t, "cp -a "+q(src+"/.")+" "+q(v3)) // version 3, aside
	bigSite(t, src, 4, 40)
	ci("deploy", src, "delta", "--delete")
	if out := ci("deploy", v3, "delta", "--delete"); !strings.Contains(out, "0 sent (0 bytes), 40 linked") {
		t.Fatalf("back to version 3: %s", out)
	}
	sameTree(t, v3, in.path("fs/delta"))
}

// storedBytes is the content the database holds, in bytes (what is
// committed, once checkpointed).
func storedBytes(t *testing.T, in *instance) int {
	t.Helper()
	in.fazt("storage", "checkpoint")
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(in.home, "fazt.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COALESCE(SUM(size), 0) FROM chunks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Retention is a setting of the site; past deploys beyond it go, and so
// does their content once nothing references it.
func TestDeployRetention(t *testing.T) {
	in := newInstance(t)
	src := t.TempDir()
	if out, err := in.fazt("deploy", "keep", "blog"); err != nil || out != "10\n" {
		t.Fatalf("default: %v %q", err, out)
	}
	if out, err := in.fazt("deploy", "keep", "blog", "0"); err == nil || !strings.Contains(out, "at least 1") {
		t.Fatalf("keep 0: %v %s", err, out)
	}
	if out, err := in.fazt("deploy", "keep", "blog", "2"); err != nil || !strings.Contains(out, "keeps 2") {
		t.Fatalf("keep 2: %v %s", err, out)
	}
	var sizes []int
	for v := 1; v <= 5; v++ {
		versionedSite(t, src, v, 20) // every version new content
		if out, err := in.fazt("deploy", src, "blog", "--delete"); err != nil {
			t.Fatalf("deploy %d: %v %s", v, err, out)
		}
		sizes = append(sizes, storedBytes(t, in))
	}
	out, err := in.fazt("deploy", "ls", "blog")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "\n"); n != 3 { // 2 past + the live one
		t.Fatalf("deploy ls with keep 2:\n%s", out)
	}
	// A status file per deploy kept, the pruned ones' gone with them.
	waitUntil(t, 60*time.Second, func() bool {
		st, _ := filepath.Glob(in.path("deploys/blog/*.status"))
		return len(st) == 3
	}, func() string { return "status files with keep 2: " + sh(t, "ls "+q(in.path("deploys/blog"))) })
	// Live plus two past versions are stored, not five: the content of
	// pruned deploys is gone (each version is about 50 KB).
	if sizes[4] > sizes[2]+10<<10 {
		t.Fatalf("stored bytes by deploy: %v", sizes)
	}
	if out, err := in.fazt("deploy", "keep", "blog", "1"); err != nil {
		t.Fatalf("keep 1: %v %s", err, out)
	}
	if after := storedBytes(t, in); after >= sizes[4] {
		t.Fatalf("lowering keep freed nothing: %d -> %d", sizes[4], after)
	}
	if out, _ := in.fazt("deploy", "ls", "blog"); strings.Count(out, "\n") != 2 {
		t.Fatalf("deploy ls with keep 1:\n%s", out)
	}
}

// /deploys/ctl rolls back and sets retention with echo, as the CLI does;
// bad input is an error with its reason in /deploys/err.
func TestDeployCtl(t *testing.T) {
	in := newInstance(t)
	src := t.TempDir()
	var ids []string
	for v := 1; v <= 3; v++ {
		versionedSite(t, src, v, 5)
		if out, err := in.fazt("deploy", src, "blog"); err != nil {
			t.Fatalf("deploy %d: %v %s", v, err, out)
		}
		ids = append(ids, strings.TrimSpace(sh(t, "cat "+q(in.path("fs/.deploys/blog/.live")))))
	}
	if got := sh(t, "ls "+q(in.path("deploys"))); got != "blog\nctl\nerr\n" {
		t.Fatalf("ls /deploys: %q", got)
	}
	if help := sh(t, "cat "+q(in.path("deploys/ctl"))); !strings.Contains(help, "rollback SITE [ID]") || !strings.Contains(help, "keep SITE N") {
		t.Fatalf("help: %s", help)
	}
	version := func() string { return sh(t, "head -c 9 "+q(in.path("fs/blog/d0/f000.txt"))) }
	if out, err := shErr("echo rollback blog > " + q(in.path("deploys/ctl"))); err != nil {
		t.Fatalf("rollback: %v %s\n%s", err, out, sh(t, "cat "+q(in.path("deploys/err"))))
	}
	waitUntil(t, 60*time.Second, func() bool { return version() == "version 2" }, func() string { return version() })
	sh(t, "echo rollback blog "+ids[0]+" > "+q(in.path("deploys/ctl")))
	waitUntil(t, 60*time.Second, func() bool { return version() == "version 1" }, func() string { return version() })
	if out, err := shErr("echo rollback blog 20990101T000000.000Z > " + q(in.path("deploys/ctl"))); err == nil || !strings.Contains(out, "No such file") {
		t.Fatalf("rollback to an unknown deploy: %v %s", err, out)
	}
	if e := sh(t, "cat "+q(in.path("deploys/err"))); !strings.Contains(e, "no past deploy 20990101T000000.000Z of blog") {
		t.Fatalf("/deploys/err: %q", e)
	}
	if out, err := shErr("echo keep blog 0 > " + q(in.path("deploys/ctl"))); err == nil || !strings.Contains(out, "Invalid argument") {
		t.Fatalf("keep 0: %v %s", err, out)
	}
	sh(t, "echo keep blog 1 > "+q(in.path("deploys/ctl")))
	if out, err := in.fazt("deploy", "keep", "blog"); err != nil || out != "1\n" {
		t.Fatalf("keep after the ctl write: %v %q", err, out)
	}
	if got := sh(t, "ls -p "+q(in.path("deploys/blog"))); strings.Count(got, "/\n") != 1 || strings.Count(got, ".status\n") != 2 {
		t.Fatalf("past deploys after keep 1 (one tree, and a status file for it and the live one):\n%s", got)
	}
	// The past deploys stay read-only.
	if out, err := shErr("echo x > " + q(in.path("deploys/blog/new.txt"))); err == nil || !strings.Contains(out, "Read-only") {
		t.Fatalf("write into /deploys: %v %s", err, out)
	}
}

// Symbolic links in the source are deployed as links (locally and
// remotely), changed when their target changes, left alone otherwise.
func TestDeploySymlinks(t *testing.T) {
	in := newInstance(t)
	src := t.TempDir()
	versionedSite(t, src, 1, 4)
	for link, target := range map[string]string{"latest.txt": "d0/f000.txt", "docs": "d1", "d2/up": "../d0/f000.txt"} {
		if err := os.Symlink(target, filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := in.fazt("deploy", src, "blog"); err != nil || !strings.Contains(out, "7 files, 7 sent") {
		t.Fatalf("deploy: %v %s", err, out)
	}
	check := func(link, want string) {
		t.Helper()
		waitUntil(t, 60*time.Second, func() bool {
			got, err := os.Readlink(in.path("fs/blog/" + link))
			return err == nil && got == want
		}, func() string { got, err := os.Readlink(in.path("fs/blog/" + link)); return fmt.Sprint(got, err) })
	}
	check("latest.txt", "d0/f000.txt")
	check("docs", "d1")
	check("d2/up", "../d0/f000.txt")
	if got := sh(t, "cat "+q(in.path("fs/blog/latest.txt"))); !strings.HasPrefix(got, "version 1 file 0") {
		t.Fatalf("through the link: %q", got)
	}
	if out, err := in.fazt("deploy", src, "blog"); err != nil || !strings.Contains(out, "0 sent") {
		t.Fatalf("no-op: %v %s", err, out)
	}
	// A new target, remotely.
	os.Remove(filepath.Join(src, "latest.txt"))
	os.Symlink("d0/f001.txt", filepath.Join(src, "latest.txt"))
	base := remoteSetup(t, in)
	_, tok := mint(t, in, "ci", "write:/fs/blog")
	if out, err := remoteCLI(t, base, tok)("deploy", src, "blog"); err != nil || !strings.Contains(out, "1 sent") {
		t.Fatalf("remote deploy of a changed link: %v %s", err, out)
	}
	check("latest.txt", "d0/f001.txt")
}

// A rollback written to /deploys/ctl through the mount shows through the
// mount at once: the kernel did not see the tree change (it saw a write
// to a control file), so its cached entries must be told.
func TestRollbackThroughTheMount(t *testing.T) {
	in := newInstance(t)
	src := t.TempDir()
	for _, v := range []string{"one", "two"} {
		os.WriteFile(src+"/index.html", []byte(v+"\n"), 0o644)
		if out, err := in.fazt("deploy", src, "site"); err != nil {
			t.Fatalf("deploy %s: %v %s", v, err, out)
		}
	}
	p := in.path("fs/site/index.html")
	if b, _ := os.ReadFile(p); string(b) != "two\n" {
		t.Fatalf("before the rollback: %q", b)
	}
	if err := os.WriteFile(in.path("deploys/ctl"), []byte("rollback site\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The write returns once the host kernel has been told.
	if b, _ := os.ReadFile(p); string(b) != "one\n" {
		t.Fatalf("right after the rollback through the mount: %q, want the first deploy", b)
	}
}
