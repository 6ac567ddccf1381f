package litestream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// versitygw runs the S3 server make tools builds into bin/ on loopback and
// returns a replica URL in its "backups" bucket; without it the test is
// skipped, but not in CI.
func versitygw(t *testing.T) string {
	t.Helper()
	bin, _ := filepath.Abs("../../bin/versitygw")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("versitygw is missing (make tools builds it): %v", err)
		}
		t.Skip("versitygw is missing (make tools builds it)")
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "backups"), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--access", "leasekey", "--secret", "leasesecret0123456789", "--port", addr, "posix", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i == 400 {
			t.Fatal("versitygw did not listen")
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "leasekey")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "leasesecret0123456789")
	return fmt.Sprintf("s3://backups/fazt?endpoint=http://%s&region=us-east-1&force-path-style=true", addr)
}

// One owner at a time: a held lease is refused to another owner, taken
// back by its own (a restart keeps the generation), taken over once it
// expires (a new generation), after which the old owner's renewal fails.
func TestLeaseOneOwnerAtATime(t *testing.T) {
	ctx := context.Background()
	url := versitygw(t)
	ttl := 2 * time.Second
	a, err := OpenLease(url, "", "node-a", ttl)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenLease(url, "", "node-b", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := a.Read(ctx); err != nil || cur != nil {
		t.Fatalf("before any: %v, %v", cur, err)
	}
	la, err := a.Acquire(ctx)
	if err != nil || la.Generation != 1 || la.Owner != "node-a" {
		t.Fatalf("a acquires: %+v, %v", la, err)
	}
	var held *ErrLeaseHeld
	if _, err := b.Acquire(ctx); !errors.As(err, &held) || held.Owner != "node-a" {
		t.Fatalf("b acquires a held lease: %v", err)
	}
	again, err := a.Acquire(ctx) // a restarted: its own lease, same generation
	if err != nil || again.Generation != 1 || !again.ExpiresAt.After(la.ExpiresAt) {
		t.Fatalf("a acquires again: %+v, %v", again, err)
	}
	if la, err = a.Renew(ctx, again); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(la.ExpiresAt) + 100*time.Millisecond)
	lb, err := b.Acquire(ctx)
	if err != nil || lb.Generation != 2 || lb.Owner != "node-b" {
		t.Fatalf("b takes the expired lease: %+v, %v", lb, err)
	}
	if _, err := a.Renew(ctx, la); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a renews a lease b took: %v", err)
	}
	if err := a.Release(ctx, la); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a releases a lease b took: %v", err)
	}
	if err := b.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if cur, err := a.Read(ctx); err != nil || cur != nil {
		t.Fatalf("after the release: %+v, %v", cur, err)
	}
	// Taken at once by both: the conditional write lets exactly one win.
	for round := 0; round < 10; round++ {
		got := make(chan error, 2)
		for _, l := range []*Lease{a, b} {
			go func() {
				_, err := l.Acquire(ctx)
				got <- err
			}()
		}
		won := 0
		for range 2 {
			if err := <-got; err == nil {
				won++
			} else if !errors.As(err, &held) {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		cur, err := a.Read(ctx)
		if won != 1 || err != nil || cur == nil {
			t.Fatalf("round %d: %d owners took the free lease (%+v, %v)", round, won, cur, err)
		}
		if cur.Owner == "node-a" {
			err = a.Release(ctx, cur)
		} else {
			err = b.Release(ctx, cur)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenLease("file://"+t.TempDir(), "", "node-a", ttl); err == nil {
		t.Fatal("a lease on a directory replica")
	}
}
