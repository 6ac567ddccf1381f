package litestream

import (
	"context"
	"errors"
	"fmt"
	"time"

	upstream "github.com/benbjohnson/litestream"
	"github.com/superfly/ltx"
)

// RestoreConfig says what to restore, and where.
type RestoreConfig struct {
	Replica string
	Output  string    // must not exist
	At      time.Time // zero: the latest
	TXID    uint64    // zero: by time
	// DataDir, if set, holds saved credentials for the replica (used
	// unless the environment has its own).
	DataDir string
}

// ErrOutsideWindow is a restore target the replica cannot reach.
var ErrOutsideWindow = errors.New("outside the restore window")

// RunRestore restores the replica into c.Output, checking the target
// against the window first. It is the body of "fazt driver litestream
// restore".
func RunRestore(ctx context.Context, c RestoreConfig) error {
	client, err := replicaClient(c.Replica, c.DataDir)
	if err != nil {
		return err
	}
	b, err := listBackups(ctx, client)
	if err != nil {
		return fmt.Errorf("list the backups: %w", err)
	}
	if b.MaxTXID == 0 {
		return fmt.Errorf("%w: the replica %s holds no backup", ErrOutsideWindow, redact(c.Replica))
	}
	window := fmt.Sprintf("%s to %s, transactions %d to %d", b.From.UTC().Format(time.RFC3339), b.To.UTC().Format(time.RFC3339), b.MinTXID, b.MaxTXID)
	switch {
	case c.TXID != 0 && (c.TXID < b.MinTXID || c.TXID > b.MaxTXID):
		return fmt.Errorf("%w: transaction %d; the replica has %s", ErrOutsideWindow, c.TXID, window)
	case !c.At.IsZero() && c.At.Before(b.From):
		return fmt.Errorf("%w: %s is before the earliest backup; the replica has %s", ErrOutsideWindow, c.At.UTC().Format(time.RFC3339), window)
	case c.At.After(time.Now()):
		// Past the last change is fine (nothing changed since); the
		// future is a mistake.
		return fmt.Errorf("%w: %s is in the future; the replica has %s", ErrOutsideWindow, c.At.UTC().Format(time.RFC3339), window)
	}
	opt := upstream.NewRestoreOptions()
	opt.OutputPath = c.Output
	opt.TXID = ltx.TXID(c.TXID)
	opt.Timestamp = c.At
	opt.IntegrityCheck = upstream.IntegrityCheckQuick
	if err := upstream.NewReplicaWithClient(nil, client).Restore(ctx, opt); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}
