package proc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/driver/litestream"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// followsSetting is the machine's setting (storage.Local, never
// replicated) naming the replica this data directory's database follows:
// set, the kernel is an edge.
const followsSetting = "node.follows"

// standbySetting (storage.Local) is "true" on a standby: a follower that
// takes the primary's place when the primary's lease expires.
const standbySetting = "node.standby"

// pendingFollowSetting (storage.Local) names the replica a kernel was
// asked to follow through its tree, until the next boot has moved the
// kernel's own database aside and recorded the replica in followsSetting:
// a kernel killed in between finishes the switch when it comes back.
const pendingFollowSetting = "node.follow_pending"

// nodeIDSetting (storage.Local) is the machine's stable name: the owner of
// the replica's lease while it is the primary. A restart, an upgrade's
// successor, keep it, and so take their own lease back.
const nodeIDSetting = "node.id"

// nodeID returns the data directory's stable name, made at the first
// boot: the host's name and a random suffix (two data directories of one
// host differ).
func nodeID(ctx context.Context, local *storage.Local) (string, error) {
	id, err := local.Setting(ctx, nodeIDSetting, "")
	if err != nil || id != "" {
		return id, err
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "fazt"
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id = host + "-" + hex.EncodeToString(b)
	return id, local.PutSetting(ctx, nodeIDSetting, id)
}

// standbyMode says whether a follower is a standby: as asked with the
// replica to follow, else as recorded.
func standbyMode(ctx context.Context, local *storage.Local, follow string, asked bool) (bool, error) {
	if follow != "" {
		v := ""
		if asked {
			v = "true"
		}
		return asked, local.PutSetting(ctx, standbySetting, v)
	}
	v, err := local.Setting(ctx, standbySetting, "")
	return v == "true", err
}

// followURL decides what the database of dbPath follows: the replica
// asked for (a fresh data directory, or one that follows it already), or
// the one recorded, else "" (a primary, also when asked to follow the
// replica it took over as a standby). A data directory asked to follow
// is restored from the replica first, when it has no database yet.
func followURL(ctx context.Context, log *slog.Logger, local *storage.Local, asked, dbPath, dataDir string) (string, error) {
	recorded, err := local.Setting(ctx, followsSetting, "")
	if err != nil {
		return "", err
	}
	if recorded, err = finishBecomingFollower(ctx, local, recorded, dataDir); err != nil {
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
			if litestream.BoundTo(dataDir) == asked {
				// A standby that took over, started again by a
				// supervisor or a unit that still says --follow: it is
				// the primary of that replica now.
				log.Warn("started with --follow, but this data directory is the primary of that replica (a standby that took over): serving as the primary; drop --follow from its command", "replica", asked)
				return "", nil
			}
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

// restoreToFollow restores the replica at url into dbPath, unless a
// follower's database is there already (one that says which of the
// replica's transactions it holds). The restore goes to a file beside it,
// renamed into place once complete with its position, so a restore cut
// short leaves no database, and one is restored again at the next start;
// a database that does not say which transactions it holds is not taken
// for a follower's, and is refused rather than replaced.
func restoreToFollow(ctx context.Context, url, dbPath, dataDir string) error {
	_, dbErr := os.Stat(dbPath)
	_, txErr := os.Stat(litestream.FollowTXIDPath(dbPath))
	switch {
	case dbErr == nil && txErr == nil:
		return nil
	case dbErr == nil:
		return kernel.E(kernel.Exist, fmt.Sprintf("%s does not say which transactions of %s it holds (no %s): not an edge's database; move it away to follow", dbPath, url, filepath.Base(litestream.FollowTXIDPath(dbPath))))
	}
	tmp := dbPath + ".restoring"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm", litestream.FollowTXIDPath(tmp)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if _, err := litestream.RestoreToFollow(ctx, url, tmp, dataDir); err != nil {
		return fmt.Errorf("restore %s to follow it: %w", url, err)
	}
	if err := os.Rename(litestream.FollowTXIDPath(tmp), litestream.FollowTXIDPath(dbPath)); err != nil {
		return err
	}
	return os.Rename(tmp, dbPath)
}

// followed makes the kernel serve what the follower just applied: every
// cache of what the database held is dropped (the tree's, with the
// mount's and the HTTP server's through its Reloaded change, and the
// signing key of tokens), the route table and the certificates are read
// again.
func (s *System) followed(txid uint64) {
	ctx := context.Background()
	s.fs.Reloaded()
	s.auth.Reloaded()
	if err := s.routes.Load(ctx); err != nil {
		s.Kernel.Log.Warn("follow: cannot read the routes", "txid", txid, "err", err)
	}
	if err := s.certs.Reload(ctx); err != nil {
		s.Kernel.Log.Warn("follow: cannot read the TLS settings", "txid", txid, "err", err)
	}
}

// becomeFollower makes this kernel an edge (or a standby) of the replica
// at url, asked through /driver/litestream/follow: its database must hold
// nothing of its own (no route, no site, no replica). The data directory
// records the replica as pending and the kernel starts again in place
// (RestartInPlace); that boot moves the database aside for the replica's
// (finishBecomingFollower), restoring and following as --follow would.
func (s *System) becomeFollower(ctx context.Context, url string, standby bool) error {
	routes, err := s.routes.Keys(ctx)
	if err != nil {
		return err
	}
	sites, err := s.Kernel.FS.ReadDir(ctx, "/fs")
	if err != nil {
		return err
	}
	var own []string
	for _, e := range sites {
		if n := e.Name; n != ".staging" && n != ".deploys" {
			own = append(own, n)
		}
	}
	for _, d := range []string{"/fs/.staging", "/fs/.deploys"} {
		if ents, err := s.Kernel.FS.ReadDir(ctx, d); err == nil && len(ents) > 0 {
			own = append(own, d[len("/fs/"):])
		}
	}
	replicas, err := s.repl.Keys(ctx)
	if err != nil {
		return err
	}
	if len(routes) > 0 || len(own) > 0 || len(replicas) > 0 {
		return kernel.E(kernel.Exist, fmt.Sprintf("this kernel's database is its own (%d routes, %d sites, %d replicas): an edge starts from a fresh data directory, whose database becomes the replica's", len(routes), len(own), len(replicas)))
	}
	v := ""
	if standby {
		v = "true"
	}
	if err := s.local.PutSetting(ctx, standbySetting, v); err != nil {
		return err
	}
	// The switch happens at the next boot, this kernel's or, killed
	// meanwhile, its supervisor's.
	if err := s.local.PutSetting(ctx, pendingFollowSetting, url); err != nil {
		return err
	}
	s.Kernel.Log.Warn("becoming a follower: restarting in place", "replica", url, "standby", standby)
	s.restartInPlace.Store(true)
	// After the answer to this write is on its way.
	time.AfterFunc(200*time.Millisecond, s.Stop)
	return nil
}

// RestartInPlace says the kernel stopped to start again in place (it
// became a follower): the caller runs the same command again, after Close,
// with Exec.
func (s *System) RestartInPlace() bool { return s.restartInPlace.Load() }

// Exec replaces this process with the same command (the pid stays: a
// supervisor or systemd keeps watching it), but for --ready-fd: that
// start-up was reported, and the descriptor closed.
func Exec() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var args []string
	for i := 0; i < len(os.Args); i++ {
		a := os.Args[i]
		if a == "--ready-fd" {
			i++
			continue
		}
		if !strings.HasPrefix(a, "--ready-fd=") {
			args = append(args, a)
		}
	}
	return syscall.Exec(exe, args, os.Environ())
}

// finishBecomingFollower completes at boot a switch to following asked
// through the tree: the kernel's own database (checked to be empty when
// asked, but kept all the same) is moved aside, the replica recorded as
// the one followed, and the pending record cleared, in that order, so a
// boot cut short anywhere does the rest next time. It returns what the
// data directory follows.
func finishBecomingFollower(ctx context.Context, local *storage.Local, recorded, dir string) (string, error) {
	pending, err := local.Setting(ctx, pendingFollowSetting, "")
	if err != nil || pending == "" {
		return recorded, err
	}
	if recorded == "" {
		if err := moveAsideForFollow(dir); err != nil {
			return "", err
		}
		if err := local.PutSetting(ctx, followsSetting, pending); err != nil {
			return "", err
		}
		recorded = pending
	}
	return recorded, local.PutSetting(ctx, pendingFollowSetting, "")
}

// moveAsideForFollow moves the kernel's own database out of the way of
// the replica's, to DATA/fazt.db.before-follow (or .before-follow.N, the
// first name free), unless a follower's database is there already.
func moveAsideForFollow(dir string) error {
	db := filepath.Join(dir, DatabaseFile)
	if _, err := os.Stat(litestream.FollowTXIDPath(db)); err == nil {
		return nil
	}
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	aside := db + ".before-follow"
	for n := 2; ; n++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.before-follow.%d", db, n)
	}
	if _, err := moveDatabase(db, aside); err != nil {
		return err
	}
	syncDir(dir) // before the replica's database takes its place
	return nil
}

// promoted makes the rest of the kernel a primary's once its standby
// took the replica's lease (the database takes writes already): the data
// directory no longer follows, the tree reads the database anew, routes
// and certificates are managed here from now on.
func (s *System) promoted(ctx context.Context) error {
	if err := s.local.PutSetting(ctx, followsSetting, ""); err != nil {
		return err
	}
	if err := s.local.PutSetting(ctx, standbySetting, ""); err != nil {
		return err
	}
	s.fs.Reloaded()
	s.auth.Reloaded()
	if err := s.fs.Resync(ctx); err != nil {
		return err
	}
	if err := s.routes.Load(ctx); err != nil {
		return err
	}
	return s.certs.Reload(ctx)
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
