package litestream

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestValidURL(t *testing.T) {
	for _, ok := range []string{
		"file:///var/backups/fazt",
		"s3://bucket/path",
		"s3://bucket/path?endpoint=http://127.0.0.1:9000&region=us-east-1&force-path-style=true",
	} {
		if err := ValidURL(ok); err != nil {
			t.Errorf("ValidURL(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/var/backups", "file://relative", "file:///", "s3://", "s3:///path", "ftp://host/x", "gs://bucket/x"} {
		if err := ValidURL(bad); kernel.KindOf(err) != kernel.Invalid {
			t.Errorf("ValidURL(%q) = %v, want Invalid", bad, err)
		}
	}
}

// The child's environment has no AWS_CA_BUNDLE and the saved credentials
// win over inherited ones.
func TestChildEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
	t.Setenv("AWS_ACCESS_KEY_ID", "inherited")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "inherited-secret")
	os.MkdirAll(filepath.Join(dir, "secrets", "litestream"), 0o700)
	if err := writePrivate(filepath.Join(dir, "secrets", "litestream", "access_key_id"), "saved"); err != nil {
		t.Fatal(err)
	}
	env := strings.Join(ChildEnv(dir), "\n") + "\n"
	if strings.Contains(env, "AWS_CA_BUNDLE") || !strings.Contains(env, "AWS_ACCESS_KEY_ID=saved\n") ||
		strings.Contains(env, "AWS_ACCESS_KEY_ID=inherited") || !strings.Contains(env, "AWS_SECRET_ACCESS_KEY=inherited-secret\n") {
		t.Fatalf("child env:\n%s", env)
	}
	// A restore prefers what the caller's environment says.
	if r := RestoreEnv(dir); len(r) != 0 {
		t.Fatalf("RestoreEnv with the environment set: %v", r)
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets", "litestream", "access_key_id"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
}

// The child, run in this process on a database written with Litestream's
// own SQLite: backups reach a directory replica, and restores bring back
// the database as of a transaction, the latest, or refuse what the replica
// cannot reach.
func TestChildBackupAndRestore(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "fazt.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"PRAGMA journal_mode = WAL", "CREATE TABLE t (v INTEGER)", "INSERT INTO t VALUES (1)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	replica := "file://" + filepath.Join(dir, "replica")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	d := &Driver{socket: filepath.Join(dir, "ctl.sock")}
	go func() {
		done <- RunChild(ctx, ChildConfig{DB: dbPath, Meta: filepath.Join(dir, "meta"), Socket: d.socket, Replica: replica, Log: quiet})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunChild: %v", err)
		}
	}()
	waitChild(t, ctx, d)
	var first Snapshot
	if err := d.call(ctx, http.MethodPost, "/backup", &first); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	var second Snapshot
	if err := d.call(ctx, http.MethodPost, "/backup", &second); err != nil {
		t.Fatal(err)
	}
	if second.TXID <= first.TXID || second.Size == 0 {
		t.Fatalf("snapshots %+v then %+v", first, second)
	}
	var b Backups
	if err := d.call(ctx, http.MethodGet, "/backups", &b); err != nil {
		t.Fatal(err)
	}
	if b.MaxTXID != second.TXID || b.MinTXID > first.TXID || len(b.Snapshots) < 2 || b.From.After(b.To) {
		t.Fatalf("backups %+v", b)
	}
	st, err := d.status(ctx)
	if err != nil || st.TXID != second.TXID || st.ReplicatedTXID != second.TXID {
		t.Fatalf("status %+v %v", st, err)
	}

	sum := func(path string) int {
		r, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var n int
		if err := r.QueryRow("SELECT sum(v) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	out := filepath.Join(dir, "latest.db")
	if err := RunRestore(ctx, RestoreConfig{Replica: replica, Output: out}); err != nil {
		t.Fatal(err)
	}
	if n := sum(out); n != 3 {
		t.Fatalf("latest restore sums to %d", n)
	}
	out = filepath.Join(dir, "first.db")
	if err := RunRestore(ctx, RestoreConfig{Replica: replica, Output: out, TXID: first.TXID}); err != nil {
		t.Fatal(err)
	}
	if n := sum(out); n != 1 {
		t.Fatalf("restore to txid %d sums to %d", first.TXID, n)
	}
	for _, c := range []RestoreConfig{
		{TXID: second.TXID + 10},
		{At: b.From.Add(-time.Hour)},
		{At: time.Now().Add(time.Hour)},
	} {
		c.Replica, c.Output = replica, filepath.Join(dir, "refused.db")
		if err := RunRestore(ctx, c); !errors.Is(err, ErrOutsideWindow) {
			t.Fatalf("restore %+v: %v", c, err)
		}
		if _, err := os.Stat(c.Output); err == nil {
			t.Fatal("a refused restore wrote its output")
		}
	}
	empty := "file://" + t.TempDir()
	if err := RunRestore(ctx, RestoreConfig{Replica: empty, Output: filepath.Join(dir, "none.db")}); !errors.Is(err, ErrOutsideWindow) || !strings.Contains(err.Error(), "holds no backup") {
		t.Fatalf("restore from an empty replica: %v", err)
	}
}

func TestRedact(t *testing.T) {
	if got := redact("s3://user:pass@bucket/x"); strings.Contains(got, "pass") {
		t.Fatalf("redact kept the password: %s", got)
	}
}

// A panic in the supervisor ends that child's run like a crash: logged
// with its stack, counted, and the next run starts after the backoff.
func TestSupervisorPanicRecovered(t *testing.T) {
	var logged strings.Builder
	var mu sync.Mutex // guards logged
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), nil))
	runs := make(chan int, 10)
	n := 0
	beforeRun = func() {
		n++
		runs <- n
		panic(fmt.Sprintf("injected %d", n))
	}
	defer func() { beforeRun = func() {} }()
	s := newSupervisor(&Driver{opt: Options{Log: log}}, config{})
	s.start()
	for want := 1; want <= 2; want++ { // the second run comes after the backoff
		select {
		case got := <-runs:
			if got != want {
				t.Fatalf("run %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no run %d: the supervisor died with the panic", want)
		}
	}
	s.stop()
	s.mu.Lock()
	restarts, last := s.restarts, s.lastExit
	s.mu.Unlock()
	if restarts < 1 || !strings.Contains(last, "panic: injected") {
		t.Fatalf("restarts %d, last exit %q", restarts, last)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "panic in the supervisor") || !strings.Contains(logged.String(), "stack=") {
		t.Fatalf("log: %s", logged.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// waitChild waits for the child of d to serve its socket (30 s at most).
func waitChild(t *testing.T, ctx context.Context, d *Driver) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := d.status(ctx); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the child did not serve its socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
