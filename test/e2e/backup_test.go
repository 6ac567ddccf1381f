package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// s3Server is versitygw on loopback: a real S3 server that checks request
// signatures, storing objects in a directory.
type s3Server struct {
	t    *testing.T
	bin  string
	addr string
	dir  string
	out  *lockedBuffer
	stop func()
}

const (
	s3Key    = "faztkey"
	s3Secret = "faztsecret0123456789"
)

func startS3(t *testing.T) *s3Server {
	t.Helper()
	s := &s3Server{t: t, bin: toolBin(t, "versitygw"), dir: t.TempDir(), out: &lockedBuffer{}}
	s.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if err := os.Mkdir(filepath.Join(s.dir, "backups"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(func() {
		if s.stop != nil {
			s.stop()
		}
	})
	return s
}

func (s *s3Server) start() {
	s.t.Helper()
	cmd := startChild(s.t, s.out, nil, s.bin, "--access", s3Key, "--secret", s3Secret, "--port", s.addr, "posix", s.dir)
	s.stop = func() {
		cmd.Process.Signal(syscall.SIGKILL)
		for i := 0; i < 100; i++ { // until the port is free
			if c, err := net.Dial("tcp", s.addr); err != nil {
				return
			} else {
				c.Close()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil(s.t, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", s.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, func() string { return "versitygw did not listen:\n" + s.out.String() })
}

func (s *s3Server) url(path string) string {
	return "s3://backups/" + path + "?endpoint=http://" + s.addr + "&region=us-east-1&force-path-style=true"
}

// useS3 configures the instance's replica on s, as a user would: the
// credentials with the CLI, the replica with echo through the mount.
func useS3(t *testing.T, in *instance, s *s3Server, secret string) {
	t.Helper()
	configureS3(t, in, s, secret)
	waitStatus(t, in, "running", "yes")
}

// configureS3 is useS3 without waiting for the child.
func configureS3(t *testing.T, in *instance, s *s3Server, secret string) {
	t.Helper()
	cmd := in.faztCmd("driver", "litestream", "credentials", "--access-key-id", s3Key)
	cmd.Stdin = strings.NewReader(secret + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("credentials: %v\n%s", err, out)
	}
	sh(t, "echo "+q(s.url("fazt"))+" > "+q(in.path("driver/litestream/replicas/offsite")))
}

// keyValues reads a status file of "key value" lines.
func keyValues(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		m[k] = v
	}
	return m
}

// status is /driver/litestream/status.
func status(t *testing.T, in *instance) map[string]string {
	t.Helper()
	return keyValues(t, in.path("driver/litestream/status"))
}

func waitStatus(t *testing.T, in *instance, key, want string) {
	t.Helper()
	waitUntil(t, 60*time.Second, func() bool { return status(t, in)[key] == want },
		func() string {
			b, _ := os.ReadFile(in.path("driver/litestream/status"))
			return fmt.Sprintf("status %s is not %s:\n%s\nlog:\n%s", key, want, b, in.log())
		})
}

// backup takes a backup on demand through the mount and returns the
// replica's newest transaction.
func backup(t *testing.T, in *instance) uint64 {
	t.Helper()
	sh(t, "echo backup > "+q(in.path("storage/ctl")))
	return window(t, in)["max_txid"]
}

// window is /storage/backups/window's numbers.
func window(t *testing.T, in *instance) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for k, v := range keyValues(t, in.path("storage/backups/window")) {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}

// dump is every row of every table of the database file at path, opened
// read-only: two databases with the same dump hold the same sites, routes,
// settings and file bytes.
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// One read transaction: the tables as of one moment.
	tx, err := conn.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := tx.Query(`SELECT * FROM "` + tbl + `" ORDER BY 1, 2`)
		if err != nil {
			rows, err = tx.Query(`SELECT * FROM "` + tbl + `" ORDER BY 1`)
		}
		if err != nil {
			t.Fatalf("%s: %v", tbl, err)
		}
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %q\n", tbl, vals)
			n++
		}
		rows.Close()
		fmt.Fprintf(&b, "%s: %d rows\n", tbl, n)
	}
	return b.String()
}

// restore runs fazt storage restore --to a new file and returns its path.
func restore(t *testing.T, in *instance, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "restored.db")
	if o, err := in.fazt(append([]string{"storage", "restore", "--to", out}, args...)...); err != nil {
		t.Fatalf("restore %v: %v\n%s", args, err, o)
	}
	return out
}

func sameDump(t *testing.T, what, want, got string) {
	t.Helper()
	if want != got {
		t.Fatalf("%s: the restored database differs:\n%s", what, diffLines(want, got))
	}
}

// Sites and routes backed up to a real S3 server come back byte for byte:
// the latest, at a time between two backups, and at a transaction.
func TestBackupRoundTripS3(t *testing.T) {
	s3 := startS3(t)
	in := newInstance(t)
	db := filepath.Join(in.home, "fazt.db")

	// A wrong secret: the server checks signatures, the backup says why
	// (the replica's lease cannot be read: nothing replicates).
	configureS3(t, in, s3, "not-the-secret")
	waitUntil(t, time.Minute, func() bool { return strings.Contains(status(t, in)["lease_error"], "SignatureDoesNotMatch") },
		func() string {
			b, _ := os.ReadFile(in.path("driver/litestream/status"))
			return "no lease error:\n" + string(b)
		})
	out, err := shErr("echo backup > " + q(in.path("storage/ctl")))
	if err == nil {
		t.Fatalf("backup with a wrong secret succeeded: %s", out)
	}
	if e := sh(t, "cat "+q(in.path("storage/err"))); !strings.Contains(e, "SignatureDoesNotMatch") && !strings.Contains(e, "403") {
		t.Fatalf("storage/err after a refused backup: %q", e)
	}
	useS3(t, in, s3, s3Secret)

	// Phase A: a site and its route.
	src := t.TempDir()
	site(t, src, 1, 40)
	sh(t, "mkdir "+q(in.path("fs/a"))+" && rsync -a "+q(src+"/")+" "+q(in.path("fs/a/")))
	sh(t, "echo a > "+q(in.path("net/routes/a.example.com")))
	txidA := backup(t, in)
	dumpA := dump(t, db)
	time.Sleep(1100 * time.Millisecond) // S3 keeps times in seconds
	between := time.Now().UTC()
	time.Sleep(1100 * time.Millisecond)

	// Phase B: another site, another route, a file changed, one deleted.
	src2 := t.TempDir()
	site(t, src2, 2, 40)
	sh(t, "mkdir "+q(in.path("fs/b"))+" && cp -a "+q(src2+"/.")+" "+q(in.path("fs/b/")))
	sh(t, "echo b > "+q(in.path("net/routes/b.example.com")))
	sh(t, "echo changed >> "+q(in.path("fs/a/d01/s1/f0001.txt"))+" && rm "+q(in.path("fs/a/d02/s2/f0002.txt")))
	txidB := backup(t, in)
	dumpB := dump(t, db)
	if txidB <= txidA {
		t.Fatalf("backup B at txid %d, A at %d", txidB, txidA)
	}
	if dumpA == dumpB {
		t.Fatal("phase B changed nothing")
	}

	sameDump(t, "latest", dumpB, dump(t, restore(t, in)))
	sameDump(t, "--at between", dumpA, dump(t, restore(t, in, "--at", between.Format(time.RFC3339Nano))))
	sameDump(t, "--txid A", dumpA, dump(t, restore(t, in, "--txid", fmt.Sprint(txidA))))

	// The restored database serves the same files, read by real tools.
	latest := restore(t, in)
	other := &instance{t: t, home: filepath.Join(t.TempDir(), "data"), mnt: filepath.Join(t.TempDir(), "mnt"), bin: faztBin}
	os.MkdirAll(other.home, 0o700)
	if err := os.Rename(latest, filepath.Join(other.home, "fazt.db")); err != nil {
		t.Fatal(err)
	}
	other.mount()
	t.Cleanup(other.cleanup)
	for _, d := range []string{"fs/a", "fs/b"} {
		if a, b := checksums(t, in.path(d)), checksums(t, other.path(d)); a != b {
			t.Fatalf("%s differs after the restore:\n%s", d, diffLines(a, b))
		}
	}
	if got := sh(t, "cat "+q(other.path("net/routes/b.example.com"))); got != "b\n" {
		t.Fatalf("route b after the restore: %q", got)
	}
	// The copy names the replica, but a copy elsewhere must not write to
	// it: replication is paused until the URL is written again there.
	if st := status(t, other); st["paused"] != "yes" || st["running"] != "no" {
		t.Fatalf("a copied database replicates: %v", st)
	}
	if out, err := shErr("echo backup > " + q(other.path("storage/ctl"))); err == nil {
		t.Fatalf("backup of a paused copy succeeded: %s", out)
	}
	if e := sh(t, "cat "+q(other.path("storage/err"))); !strings.Contains(e, "paused") {
		t.Fatalf("storage/err of a paused copy: %q", e)
	}
}

// A target the replica cannot reach is refused with the window it has;
// restores never overwrite.
func TestRestoreRefusals(t *testing.T) {
	in := newInstance(t)
	rep := t.TempDir()
	sh(t, "echo file://"+rep+" > "+q(in.path("driver/litestream/replicas/local")))
	backup(t, in)
	w := window(t, in)
	for _, args := range [][]string{
		{"--at", "2020-01-01T00:00:00Z"},
		{"--at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)},
		{"--txid", fmt.Sprint(w["max_txid"] + 100)},
	} {
		out, err := in.fazt(append([]string{"storage", "restore", "--to", filepath.Join(t.TempDir(), "x.db")}, args...)...)
		if err == nil || !strings.Contains(out, "outside the restore window") || !strings.Contains(out, "the replica has") {
			t.Fatalf("restore %v: %v %q", args, err, out)
		}
	}
	existing := filepath.Join(t.TempDir(), "there.db")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	if out, err := in.fazt("storage", "restore", "--to", existing); err == nil || !strings.Contains(out, "exists") {
		t.Fatalf("restore over a file: %v %q", err, out)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Fatal("restore overwrote a file")
	}
	for _, args := range [][]string{{"storage", "restore"}, {"storage", "restore", "--to", "x", "--replace"}, {"storage", "restore", "--to", "x", "--at", "1h", "--txid", "3"}} {
		if out, err := in.fazt(args...); exitCode(err) != 2 {
			t.Fatalf("%v: %v %q", args, err, out)
		}
	}
	// Bad replica URLs and names are refused where they are written.
	for name, url := range map[string]string{"local2": "file:///tmp/x", "BAD": "file:///tmp/x"} {
		if _, err := shErr("echo " + url + " > " + q(in.path("driver/litestream/replicas/"+name))); err == nil {
			t.Fatalf("second replica or bad name %s accepted", name)
		}
	}
	for _, url := range []string{"ftp://x/y", "file://relative", "s3:///nobucket"} {
		if _, err := shErr("echo " + q(url) + " > " + q(in.path("driver/litestream/replicas/local"))); err == nil {
			t.Fatalf("bad URL %s accepted", url)
		}
	}
	// Secrets never read back.
	sh(t, "echo s3cr3t > "+q(in.path("driver/litestream/credentials/secret_access_key")))
	if out, err := shErr("cat " + q(in.path("driver/litestream/credentials/secret_access_key"))); err == nil || strings.Contains(out, "s3cr3t") {
		t.Fatalf("a secret read back: %v %q", err, out)
	}
	if fi, err := os.Stat(filepath.Join(in.home, "secrets", "litestream", "secret_access_key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
}

func (in *instance) faztCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(faztBin, append([]string{"--data", in.home}, args...)...)
	cmd.Dir = "/"
	return cmd
}

func exitCode(err error) int {
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		return ee.ExitCode()
	}
	return -1
}

// routes writes n routes through the mount, from first on.
func routes(t *testing.T, in *instance, first, n int) {
	t.Helper()
	sh(t, fmt.Sprintf("cd %s && for i in $(seq %d %d); do echo site$i > r$i.example.com; done", q(in.path("net/routes")), first, first+n-1))
}

// countRoutes counts the routes in a database file.
func countRoutes(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM routes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Killing the Litestream child while it replicates loses nothing: the
// kernel starts it again and it carries on from where it was.
func TestBackupChildKilled(t *testing.T) {
	in := newInstance(t)
	sh(t, "echo file://"+t.TempDir()+" > "+q(in.path("driver/litestream/replicas/local")))
	waitStatus(t, in, "running", "yes")
	for round := 1; round <= 3; round++ {
		pid, _ := strconv.Atoi(status(t, in)["pid"])
		done := make(chan struct{})
		go func() { // writes while the child dies
			defer close(done)
			routes(t, in, round*1000, 200)
		}()
		time.Sleep(30 * time.Millisecond)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-done
		waitUntil(t, 30*time.Second, func() bool {
			st := status(t, in)
			return st["running"] == "yes" && st["pid"] != strconv.Itoa(pid) && st["restarts"] == strconv.Itoa(round)
		}, func() string { b, _ := os.ReadFile(in.path("driver/litestream/status")); return string(b) })
	}
	if st := status(t, in); !strings.Contains(st["last_exit"], "killed") {
		t.Fatalf("last_exit %q", st["last_exit"])
	}
	backup(t, in)
	if n := countRoutes(t, restore(t, in)); n != 600 {
		t.Fatalf("restored %d routes of 600", n)
	}
	sameDump(t, "after kills", dump(t, filepath.Join(in.home, "fazt.db")), dump(t, restore(t, in)))
}

// With the S3 server down, backups fail with the reason, the status shows
// the lag and the error, the kernel keeps serving; when the server returns,
// replication catches up by itself.
func TestBackupS3Outage(t *testing.T) {
	s3 := startS3(t)
	in := newInstance(t)
	useS3(t, in, s3, s3Secret)
	routes(t, in, 1, 10)
	backup(t, in)

	s3.stop()
	routes(t, in, 100, 10)
	start := time.Now()
	out, err := shErr("echo backup > " + q(in.path("storage/ctl")))
	if err == nil || !strings.Contains(out, "Resource temporarily unavailable") {
		t.Fatalf("backup with S3 down: %v %q", err, out)
	}
	t.Logf("a backup with S3 down failed in %v", time.Since(start))
	if e := sh(t, "cat "+q(in.path("storage/err"))); !strings.Contains(e, "connection refused") {
		t.Fatalf("storage/err: %q", e)
	}
	if out, err := in.fazt("storage", "backup"); err == nil || !strings.Contains(out, "connection refused") {
		t.Fatalf("fazt storage backup with S3 down: %v %q", err, out)
	}
	waitUntil(t, 60*time.Second, func() bool {
		st := status(t, in)
		return st["lag"] != "0" && st["last_error"] != "-"
	}, func() string { b, _ := os.ReadFile(in.path("driver/litestream/status")); return string(b) })
	// The kernel serves: reads and writes go on.
	routes(t, in, 200, 10)
	if got := sh(t, "cat "+q(in.path("net/routes/r205.example.com"))); got != "site205\n" {
		t.Fatalf("route written during the outage: %q", got)
	}

	s3.start()
	waitStatus(t, in, "lag", "0")
	if st := status(t, in); st["last_error"] != "-" {
		t.Fatalf("last_error after the recovery: %q", st["last_error"])
	}
	backup(t, in)
	if n := countRoutes(t, restore(t, in)); n != 30 {
		t.Fatalf("restored %d routes of 30", n)
	}
}

// restore --replace stops the kernel, swaps the restored database in,
// keeps the old one aside and starts the kernel again on its mount;
// replication goes on from the restored state.
func TestRestoreReplace(t *testing.T) {
	in := newInstance(t)
	sh(t, "echo file://"+t.TempDir()+" > "+q(in.path("driver/litestream/replicas/local")))
	routes(t, in, 1, 5)
	txid := backup(t, in)
	routes(t, in, 100, 5)
	backup(t, in)
	oldPID := in.pid()
	out, err := in.fazt("storage", "restore", "--replace", "--txid", fmt.Sprint(txid))
	if err != nil {
		t.Fatalf("restore --replace: %v\n%s\n%s", err, out, in.log())
	}
	if !strings.Contains(out, "kept at") || !strings.Contains(out, "started the kernel again") {
		t.Fatalf("restore --replace said %q", out)
	}
	if pid := in.pid(); pid == 0 || pid == oldPID {
		t.Fatalf("kernel pid %d after the restore (was %d)", pid, oldPID)
	}
	// The mount is back, with the routes as they were.
	if got := sh(t, "ls "+q(in.path("net/routes"))+" | wc -l"); strings.TrimSpace(got) != "5" {
		t.Fatalf("%s routes after the restore", got)
	}
	aside, _ := filepath.Glob(filepath.Join(in.home, "fazt.db.replaced-*"))
	if len(aside) == 0 || !strings.HasSuffix(aside[0], "Z") {
		t.Fatalf("old database not kept: %v", aside)
	}
	if n := countRoutes(t, aside[0]); n != 10 {
		t.Fatalf("the database kept aside has %d routes, want 10", n)
	}
	integrity(t, filepath.Dir(aside[0])) // the live one, while the kernel runs
	// Replication carries on from the restored database.
	waitStatus(t, in, "running", "yes")
	routes(t, in, 500, 1)
	backup(t, in)
	if n := countRoutes(t, restore(t, in)); n != 6 {
		t.Fatalf("restored %d routes after the replace, want 6", n)
	}
}

// A new machine: nothing but the replica's URL and the credentials in the
// environment.
func TestRestoreOnNewMachine(t *testing.T) {
	s3 := startS3(t)
	in := newInstance(t)
	useS3(t, in, s3, s3Secret)
	sh(t, "echo 3s > "+q(in.path("driver/litestream/lease_ttl")))
	routes(t, in, 1, 7)
	backup(t, in)
	want := dump(t, filepath.Join(in.home, "fazt.db"))
	// The old machine is gone (its lease expires).
	in.crash()
	t.Setenv("AWS_ACCESS_KEY_ID", s3Key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3Secret)

	home := filepath.Join(t.TempDir(), "new")
	cmd := exec.Command(faztBin, "--data", home, "storage", "restore", "--replace", "--from", s3.url("fazt"))
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restore on a new machine: %v\n%s", err, out)
	}
	sameDump(t, "new machine", want, dump(t, filepath.Join(home, "fazt.db")))
	// Restored from its replica, the database replicates to it again.
	nm := &instance{t: t, home: home, mnt: filepath.Join(t.TempDir(), "mnt"), bin: faztBin}
	nm.mount()
	t.Cleanup(nm.cleanup)
	if st := status(t, nm); st["paused"] != "no" {
		t.Fatalf("status on the new machine: %v", st)
	}
	waitStatus(t, nm, "running", "yes")
	// Its history is the replica's: it took the lease on from the old
	// machine's (a new generation), and replicates.
	if st := status(t, nm); st["lease"] != "holding" || st["lease_generation"] != "2" {
		t.Fatalf("the new machine's lease: %v", st)
	}
	routes(t, nm, 8, 1)
	backup(t, nm)
}

// A migration waits for a backup to the replica.
func TestMigrateBacksUpFirst(t *testing.T) {
	in := newInstance(t)
	sh(t, "echo file://"+t.TempDir()+" > "+q(in.path("driver/litestream/replicas/local")))
	routes(t, in, 1, 3)
	backup(t, in)
	before := len(strings.Split(strings.TrimSpace(sh(t, "cat "+q(in.path("storage/backups/snapshots")))), "\n"))
	if out, err := in.fazt("proc", "stop"); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	// Undo the newest migration, as if this database came from an older
	// fazt.
	db, err := sql.Open("sqlite3", filepath.Join(in.home, "fazt.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE tls_store; DELETE FROM schema_migrations WHERE name = '0003_tls.sql'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	in.mount()
	if !strings.Contains(in.log(), "backed up to the replica before migrating") {
		t.Fatalf("no backup before the migration:\n%s", in.log())
	}
	after := len(strings.Split(strings.TrimSpace(sh(t, "cat "+q(in.path("storage/backups/snapshots")))), "\n"))
	if after <= before {
		t.Fatalf("%d snapshots before the migration, %d after", before, after)
	}
	out, err := in.fazt("storage", "migrate")
	if err != nil || !strings.Contains(out, "0003_tls.sql applied") {
		t.Fatalf("storage migrate: %v %q", err, out)
	}
}

// A kernel killed with SIGKILL takes its Litestream child with it; the next
// kernel's child waits for the old one and replication carries on.
func TestKernelKilledWithReplica(t *testing.T) {
	in := newInstance(t)
	sh(t, "echo file://"+t.TempDir()+" > "+q(in.path("driver/litestream/replicas/local")))
	waitStatus(t, in, "running", "yes")
	routes(t, in, 1, 20)
	child, _ := strconv.Atoi(status(t, in)["pid"])
	in.killSupervisors() // restarted below by hand
	if err := syscall.Kill(in.pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 45*time.Second, func() bool { return syscall.Kill(child, 0) != nil },
		func() string { return fmt.Sprintf("the child %d outlived its kernel", child) })
	exec.Command("umount", "-l", in.mnt).Run()
	in.mount()
	waitStatus(t, in, "running", "yes")
	routes(t, in, 100, 5)
	backup(t, in)
	if n := countRoutes(t, restore(t, in)); n != 25 {
		t.Fatalf("restored %d routes of 25", n)
	}
}
