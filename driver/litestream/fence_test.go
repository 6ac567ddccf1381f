package litestream

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	upstream "github.com/benbjohnson/litestream"
	"github.com/superfly/ltx"
)

// recordingClient counts the writes that reach it and keeps the deadline
// each one was given.
type recordingClient struct {
	upstream.ReplicaClient
	writes, deletes int
	deadline        time.Time
}

func (c *recordingClient) WriteLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, r io.Reader) (*ltx.FileInfo, error) {
	c.writes++
	c.deadline, _ = ctx.Deadline()
	return &ltx.FileInfo{Level: level, MinTXID: minTXID, MaxTXID: maxTXID}, nil
}

func (c *recordingClient) DeleteLTXFiles(ctx context.Context, a []*ltx.FileInfo) error {
	c.deletes++
	return nil
}

// The child's writes go through only before the lease record's time, each
// with it as its deadline; without a record, or past it, nothing is sent.
func TestFencedClientWritesOnlyUnderTheLease(t *testing.T) {
	ctx := context.Background()
	rec := filepath.Join(t.TempDir(), "lease")
	now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	inner := &recordingClient{}
	c := &fencedClient{ReplicaClient: inner, record: rec, now: func() time.Time { return now }}
	write := func() error {
		_, err := c.WriteLTXFile(ctx, 0, 5, 5, bytes.NewReader(nil))
		return err
	}

	if err := write(); err == nil || inner.writes != 0 {
		t.Fatalf("a write without a lease record: %v, %d sent", err, inner.writes)
	}
	until := now.Add(5 * time.Second)
	if err := writeLeaseRecord(rec, leaseRecord{Generation: 3, ExpiresAt: now.Add(6 * time.Second), WritesUntil: until}); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil || inner.writes != 1 || !inner.deadline.Equal(until) {
		t.Fatalf("a write under the lease: %v, %d sent, deadline %v (want %v)", err, inner.writes, inner.deadline, until)
	}
	if err := c.DeleteLTXFiles(ctx, nil); err != nil || inner.deletes != 1 {
		t.Fatalf("a deletion under the lease: %v, %d sent", err, inner.deletes)
	}

	now = until // the kernel did not renew in time
	err := write()
	if err == nil || inner.writes != 1 || !strings.Contains(err.Error(), "generation 3") {
		t.Fatalf("a write at the record's time: %v, %d sent", err, inner.writes)
	}
	if err := c.DeleteLTXFiles(ctx, nil); err == nil || inner.deletes != 1 {
		t.Fatalf("a deletion past the lease: %v, %d sent", err, inner.deletes)
	}
	// A deposed kernel's record: no time at all.
	if err := writeLeaseRecord(rec, leaseRecord{Generation: 3}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(-time.Hour)
	if err := write(); err == nil || inner.writes != 1 {
		t.Fatalf("a write after the lease was lost: %v, %d sent", err, inner.writes)
	}
}
