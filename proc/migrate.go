package proc

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// migrate applies the pending migrations, after a backup of the database
// as it was: to the replica when one is configured, else (or when that
// fails) a copy next to the database, which the log names.
func (s *System) migrate(ctx context.Context, log *slog.Logger) error {
	schema := s.db.Schema()
	if len(schema.Pending) == 0 {
		return nil
	}
	if len(schema.Applied) > 0 { // a new database has nothing to lose
		if err := s.backupBeforeMigrate(ctx, log); err != nil {
			return fmt.Errorf("no backup before migrating, so no migration: %w", err)
		}
	}
	names, err := s.db.Migrate(ctx)
	if err != nil {
		return err
	}
	log.Info("migrated", "applied", strings.Join(names, ","))
	return nil
}

func (s *System) backupBeforeMigrate(ctx context.Context, log *slog.Logger) error {
	// In an upgrade, the replica belongs to the previous kernel's backup
	// child until it has let go: a copy it is.
	if s.handoff == nil {
		snap, err := s.repl.Backup(ctx)
		if err == nil {
			log.Info("backed up to the replica before migrating", "txid", snap.TXID)
			return nil
		}
		if kernel.KindOf(err) != kernel.NotSupported {
			log.Warn("cannot back up to the replica before migrating; keeping a copy instead", "err", err)
		}
	}
	p := filepath.Join(s.DataDir, DatabaseFile+".before-migration-"+time.Now().UTC().Format("20060102T150405Z"))
	if err := s.db.CopyTo(ctx, p); err != nil {
		return err
	}
	log.Info("copied the database before migrating", "copy", p)
	return nil
}
