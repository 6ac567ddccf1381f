package litestream

import (
	"context"
	"fmt"
	"io"
	"time"

	upstream "github.com/benbjohnson/litestream"
	"github.com/superfly/ltx"
)

// fencedClient is the child's replica client under a lease: every write
// and deletion is refused once the lease record's WritesUntil has passed
// (the kernel renews the lease and rewrites the record; a kernel that
// stops doing so stops its child's writes), and one in progress is cut
// off then. Reads go through: they change nothing.
type fencedClient struct {
	upstream.ReplicaClient
	record string // the lease record's path
	now    func() time.Time
}

// until returns a context that ends when writes must stop, or why they
// may not start.
func (c *fencedClient) until(ctx context.Context) (context.Context, context.CancelFunc, error) {
	rec, err := readLeaseRecord(c.record)
	if err != nil {
		return nil, nil, fmt.Errorf("read the lease record: %w", err)
	}
	if !c.now().Before(rec.WritesUntil) {
		return nil, nil, fmt.Errorf("not writing to the replica: this machine's lease (generation %d) is not renewed past %s",
			rec.Generation, rec.WritesUntil.UTC().Format(time.RFC3339))
	}
	ctx, cancel := context.WithDeadline(ctx, rec.WritesUntil)
	return ctx, cancel, nil
}

func (c *fencedClient) WriteLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, r io.Reader) (*ltx.FileInfo, error) {
	ctx, cancel, err := c.until(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	return c.ReplicaClient.WriteLTXFile(ctx, level, minTXID, maxTXID, r)
}

func (c *fencedClient) DeleteLTXFiles(ctx context.Context, a []*ltx.FileInfo) error {
	ctx, cancel, err := c.until(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return c.ReplicaClient.DeleteLTXFiles(ctx, a)
}

func (c *fencedClient) DeleteAll(ctx context.Context) error {
	ctx, cancel, err := c.until(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return c.ReplicaClient.DeleteAll(ctx)
}
