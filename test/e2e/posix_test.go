package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"
)

// sqliteWorkerEnv makes the test binary a SQLite writer (see sqliteWorker).
const sqliteWorkerEnv = "FAZT_E2E_SQLITE_WORKER"

// sqliteWorker runs in a process of its own: N transactions on the
// database at PATH, each adding a row and bumping a counter, as
// "PATH N JOURNAL_MODE" in the environment says.
func sqliteWorker() int {
	f := strings.Fields(os.Getenv(sqliteWorkerEnv))
	n, _ := strconv.Atoi(f[1])
	db, err := sql.Open("sqlite3", "file:"+f[0]+"?_busy_timeout=60000&_journal_mode="+f[2]+"&_txlock=immediate")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for i := range n {
		tx, err := db.Begin()
		if err == nil {
			_, err = tx.Exec(`INSERT INTO rows(who, i, pad) VALUES (?, ?, randomblob(300))`, os.Getpid(), i)
			if err == nil {
				_, err = tx.Exec(`UPDATE counter SET n = n + 1`)
			}
			if err == nil {
				err = tx.Commit()
			} else {
				tx.Rollback()
			}
		}
		if err != nil {
			var se sqlite3.Error
			if errors.As(err, &se) {
				fmt.Fprintf(os.Stderr, "transaction %d: %v (extended code %d)\n", i, err, se.ExtendedCode)
			} else {
				fmt.Fprintf(os.Stderr, "transaction %d: %v\n", i, err)
			}
			return 1
		}
	}
	return 0
}

// An application's SQLite database in /fs, written by two processes at
// once, in WAL and in rollback-journal mode: the host kernel's locks
// (fcntl, and the shared memory of WAL) work on the mount as on a local
// disk, and the database is whole after thousands of transactions.
func TestSQLiteOnTheMount(t *testing.T) {
	in := newInstance(t)
	const perWorker = 1000
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			dir := in.path("fs/app-" + mode)
			os.MkdirAll(dir, 0o755)
			path := filepath.Join(dir, "app.db")
			db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode="+mode)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`CREATE TABLE rows(who INTEGER, i INTEGER, pad BLOB); CREATE TABLE counter(n INTEGER); INSERT INTO counter VALUES (0)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var workers []*exec.Cmd
			for range 2 {
				c := exec.CommandContext(ctx, os.Args[0])
				c.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", sqliteWorkerEnv, path, perWorker, mode))
				c.Stderr = os.Stderr
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				workers = append(workers, c)
			}
			for _, c := range workers {
				if err := c.Wait(); err != nil {
					t.Fatalf("a writer failed: %v (ctx %v)", err, ctx.Err())
				}
			}
			db, err = sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var check string
			var rows, counter int
			if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
				t.Fatalf("integrity_check: %q %v", check, err)
			}
			db.QueryRow(`SELECT count(*) FROM rows`).Scan(&rows)
			db.QueryRow(`SELECT n FROM counter`).Scan(&counter)
			if rows != 2*perWorker || counter != 2*perWorker {
				t.Fatalf("%d rows, counter %d; want %d", rows, counter, 2*perWorker)
			}
		})
	}
	// flock(2) between two processes: the second is refused while the
	// first holds it.
	p := in.path("fs/lockfile")
	os.WriteFile(p, nil, 0o644)
	holder := exec.Command("flock", "--no-fork", "-x", p, "sleep", "60") // no fork: killing it lets go
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	waitUntil(t, time.Minute, func() bool {
		return exec.Command("flock", "-n", "-x", p, "true").Run() != nil
	}, func() string { return "flock -n succeeded while another process held the lock" })
	holder.Process.Kill()
	holder.Wait()
	if out, err := exec.Command("flock", "-w", "30", "-x", p, "true").CombinedOutput(); err != nil {
		t.Fatalf("flock after the holder died: %v %s", err, out)
	}
}

// Special files travel with the standard tools, are skipped by deploys
// with a warning and are not served; df of any path in the mount reports
// the disk.
func TestSpecialFilesThroughTools(t *testing.T) {
	in := newInstance(t)
	src := t.TempDir()
	os.WriteFile(src+"/index.html", []byte("hi\n"), 0o644)
	if err := syscall.Mkfifo(src+"/pipe", 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(src+"/null", syscall.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	// rsync, tar and cp -a carry them into /fs and out again.
	sh(t, "rsync -a --specials --devices "+q(src+"/")+" "+q(in.path("fs/r/")))
	sh(t, "tar -C "+q(src)+" -cf - . | tar -C "+q(in.path("fs"))+" --one-top-level=t -xf -")
	sh(t, "cp -a "+q(src)+" "+q(in.path("fs/c")))
	back := t.TempDir()
	sh(t, "cp -a "+q(in.path("fs/r"))+" "+q(back+"/r"))
	for _, d := range []string{in.path("fs/r"), in.path("fs/t"), in.path("fs/c"), back + "/r"} {
		var st unix.Stat_t
		if err := unix.Lstat(d+"/pipe", &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			t.Fatalf("%s/pipe: mode %o %v", d, st.Mode, err)
		}
		if err := unix.Lstat(d+"/null", &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
			t.Fatalf("%s/null: mode %o rdev %#x %v", d, st.Mode, st.Rdev, err)
		}
	}
	// The mount is nodev: a device node in it opens nothing.
	if f, err := os.Open(in.path("fs/r/null")); err == nil {
		f.Close()
		t.Fatal("a device node in the mount opened")
	}
	// Served as missing.
	port := freePort(t)
	if err := os.WriteFile(in.path("net/http"), []byte(fmt.Sprintf("127.0.0.1:%d\n", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in.path("net/routes/r.localhost"), []byte("r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	get := func(p string) int {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, p), nil)
		req.Host = "r.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("/index.html"); c != 200 {
		t.Fatalf("index.html: %d", c)
	}
	for _, p := range []string{"/pipe", "/null"} {
		if c := get(p); c != 404 {
			t.Fatalf("%s: %d, want 404", p, c)
		}
	}
	// A deploy sends the file and names what it skipped.
	out, err := in.fazt("deploy", src, "d")
	if err != nil || !strings.Contains(out, "2 special files") || !strings.Contains(out, "pipe (fifo)") || !strings.Contains(out, "null (character device)") {
		t.Fatalf("deploy: %v %s", err, out)
	}
	if _, err := os.Lstat(in.path("fs/d/pipe")); !os.IsNotExist(err) {
		t.Fatalf("the deploy sent the fifo: %v", err)
	}
	// df anywhere in the mount: the same disk.
	var fsSt, rootSt, procSt unix.Statfs_t
	for p, st := range map[string]*unix.Statfs_t{"fs": &fsSt, "": &rootSt, "proc": &procSt} {
		if err := unix.Statfs(in.path(p), st); err != nil {
			t.Fatal(err)
		}
	}
	if fsSt.Blocks == 0 || rootSt.Blocks != fsSt.Blocks || procSt.Blocks != fsSt.Blocks {
		t.Fatalf("statfs blocks: /fs %d, root %d, /proc %d", fsSt.Blocks, rootSt.Blocks, procSt.Blocks)
	}
}

// Extended attributes: refused by a default mount (the host kernel says
// EOPNOTSUPP itself), kept by one made with --xattrs, through rsync -X.
func TestXattrsOptIn(t *testing.T) {
	plain := newInstance(t)
	os.WriteFile(plain.path("fs/f"), []byte("x"), 0o644)
	if err := unix.Setxattr(plain.path("fs/f"), "user.k", []byte("v"), 0); err != unix.EOPNOTSUPP {
		t.Fatalf("setxattr on a default mount: %v, want EOPNOTSUPP", err)
	}
	in := newInstance(t, "--xattrs")
	src := t.TempDir()
	os.WriteFile(src+"/a.txt", []byte("a\n"), 0o644)
	if err := unix.Setxattr(src+"/a.txt", "user.origin", []byte("laptop"), 0); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the test's own disk keeps no user attributes: %v", err)
		}
		t.Skipf("the test's own disk keeps no user attributes: %v", err)
	}
	sh(t, "rsync -aX "+q(src+"/")+" "+q(in.path("fs/x/")))
	buf := make([]byte, 64)
	n, err := unix.Getxattr(in.path("fs/x/a.txt"), "user.origin", buf)
	if err != nil || string(buf[:n]) != "laptop" {
		t.Fatalf("user.origin after rsync -X: %q %v", buf[:n], err)
	}
	// And back out, with cp --preserve=xattr.
	back := t.TempDir()
	sh(t, "cp --preserve=xattr "+q(in.path("fs/x/a.txt"))+" "+q(back+"/a.txt"))
	if n, err := unix.Getxattr(back+"/a.txt", "user.origin", buf); err != nil || string(buf[:n]) != "laptop" {
		t.Fatalf("user.origin after cp out: %q %v", buf[:n], err)
	}
}
