package proc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/fazt-sh/fazt/driver/litestream"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// followsSetting is the machine's setting (storage.Local, never
// replicated) naming the replica this data directory's database follows:
// set, the kernel is an edge.
const followsSetting = "node.follows"

// followURL decides what the database of dbPath follows: the replica
// asked for (a fresh data directory, or one that follows it already), or
// the one recorded, else "" (a primary). A data directory asked to follow
// is restored from the replica first, when it has no database yet.
func followURL(ctx context.Context, local *storage.Local, asked, dbPath, dataDir string) (string, error) {
	recorded, err := local.Setting(ctx, followsSetting, "")
	if err != nil {
		return "", err
	}
	switch {
	case asked == "" && recorded == "":
		return "", nil
	case asked != "" && recorded != "" && asked != recorded:
		return "", kernel.E(kernel.Invalid, fmt.Sprintf("%s follows %s, not %s: a data directory follows one replica (start it without --follow, or follow from a fresh data directory)", dataDir, recorded, asked))
	case asked != "" && recorded == "":
		if err := litestream.ValidURL(asked); err != nil {
			return "", err
		}
		if _, err := os.Stat(dbPath); !errors.Is(err, fs.ErrNotExist) {
			return "", kernel.E(kernel.Exist, fmt.Sprintf("%s holds a database of its own: an edge starts from a fresh data directory (its database is the replica's)", dataDir))
		}
		// Recorded before the restore: an interrupted one is done again.
		if err := local.PutSetting(ctx, followsSetting, asked); err != nil {
			return "", err
		}
		recorded = asked
	}
	if err := restoreToFollow(ctx, recorded, dbPath, dataDir); err != nil {
		return "", err
	}
	return recorded, nil
}

// restoreToFollow restores the replica at url into dbPath unless the
// database there says which of the replica's transactions it holds. One
// without that record is what a restore interrupted before writing it
// left: a copy of the replica, restored again.
func restoreToFollow(ctx context.Context, url, dbPath, dataDir string) error {
	if _, err := os.Stat(litestream.FollowTXIDPath(dbPath)); err == nil {
		return nil
	}
	for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if _, err := litestream.RestoreToFollow(ctx, url, dbPath, dataDir); err != nil {
		return fmt.Errorf("restore %s to follow it: %w", url, err)
	}
	return nil
}

// followed makes the kernel serve what the follower just applied: every
// cache of what the database held is dropped (the tree's, with the
// mount's and the HTTP server's through its Reloaded change), the route
// table and the certificates are read again.
func (s *System) followed(txid uint64) {
	ctx := context.Background()
	s.fs.Reloaded()
	if err := s.routes.Load(ctx); err != nil {
		s.Kernel.Log.Warn("follow: cannot read the routes", "txid", txid, "err", err)
	}
	if err := s.certs.Reload(ctx); err != nil {
		s.Kernel.Log.Warn("follow: cannot read the TLS settings", "txid", txid, "err", err)
	}
}

// challengeReachesFollowers sends a stored ACME challenge to the replica
// and waits for the followers to apply it (they look every
// litestream.FollowEvery): the CA may ask whichever machine the name
// points at. Without a replica there are no followers.
func (s *System) challengeReachesFollowers(ctx context.Context) error {
	txid, err := s.repl.Sync(ctx)
	if kernel.KindOf(err) == kernel.NotSupported {
		return nil
	}
	if err != nil {
		return err
	}
	s.Kernel.Log.Info("tls: challenge sent to the replica for the followers", "txid", txid)
	select {
	case <-time.After(3 * litestream.FollowEvery):
	case <-ctx.Done():
	}
	return nil
}
