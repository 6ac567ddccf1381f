package proc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/ctl"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// storageTree builds /storage: the database's state and maintenance.
func (s *System) storageTree() *ctl.Tree {
	t := ctl.New("/storage", s.Kernel.Log)
	root := t.RootDir()
	root.Status("status", s.storageStatus)
	migs := root.Dir("migrations")
	schema := s.db.Schema()
	for _, a := range schema.Applied {
		a := a
		state := "applied"
		for _, u := range schema.Unknown {
			if u == a.Name {
				state = "unknown (applied by a newer fazt)"
			}
		}
		migs.Status(a.Name, ctl.Text(fmt.Sprintf("name %s\nsha256 %s\napplied %s\nstate %s\n",
			a.Name, a.SHA256, a.AppliedAt.UTC().Format(time.RFC3339), state)))
	}
	root.Ctl("ctl", []ctl.Command{
		{Verb: "checkpoint", Help: "copy the write-ahead log into the database file and truncate it",
			Run: s.maintain("checkpoint", s.db.Checkpoint)},
		{Verb: "vacuum", Help: "rewrite the database without its free pages, giving their space back",
			Run: s.maintain("vacuum", s.db.Vacuum)},
		{Verb: "integrity-check", Help: "run PRAGMA integrity_check; the result is in status",
			Run: s.maintain("integrity_check", s.db.IntegrityCheck)},
		{Verb: "migrate", Help: "back up, then apply pending migrations (the kernel applies them at start)",
			Run: func(ctx context.Context, _ []string) error { return s.migrate(ctx, s.Kernel.Log) }},
		{Verb: "backup", Help: "send every change to the replica and snapshot it there; returns once it is durable",
			Run: s.maintain("backup", func(ctx context.Context) error {
				_, err := s.repl.Backup(ctx)
				return err
			})},
	})
	backups := root.Dir("backups")
	backups.Status("window", func(ctx context.Context) ([]byte, error) {
		b, err := s.repl.Backups(ctx)
		if kernel.KindOf(err) == kernel.NotSupported {
			return []byte("replica none\n"), nil
		}
		if err != nil {
			return nil, err
		}
		if b.MaxTXID == 0 {
			return []byte("backups 0\n"), nil
		}
		return []byte(fmt.Sprintf("from %s\nto %s\nmin_txid %d\nmax_txid %d\nsnapshots %d\n",
			stamp(b.From), stamp(b.To), b.MinTXID, b.MaxTXID, len(b.Snapshots))), nil
	})
	backups.Status("snapshots", func(ctx context.Context) ([]byte, error) {
		b, err := s.repl.Backups(ctx)
		if kernel.KindOf(err) == kernel.NotSupported {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var out strings.Builder
		for _, sn := range b.Snapshots {
			fmt.Fprintf(&out, "%s txid %d size %d\n", stamp(sn.Created), sn.TXID, sn.Size)
		}
		return []byte(out.String()), nil
	})
	root.Err()
	return t
}

// maintain runs a maintenance step and records its outcome for status.
func (s *System) maintain(name string, fn func(context.Context) error) func(context.Context, []string) error {
	return func(ctx context.Context, _ []string) error {
		start := time.Now()
		err := fn(ctx)
		result := "ok"
		if err != nil {
			result = "failed"
		}
		s.smu.Lock()
		s.maint[name] = fmt.Sprintf("%s %s %.3fs", result, start.UTC().Format(time.RFC3339), time.Since(start).Seconds())
		s.smu.Unlock()
		s.Kernel.Events.Publish("storage", strings.ReplaceAll(name, "_", "-"), result)
		return err
	}
}

// storageStatus renders /storage/status.
func (s *System) storageStatus(ctx context.Context) ([]byte, error) {
	st, err := s.db.Stats(ctx)
	if err != nil {
		return nil, err
	}
	schema := s.db.Schema()
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s %v\n", k, v) }
	kv("schema_compat", schema.Compat)
	kv("binary_compat", storage.Compat)
	kv("migrations_applied", len(schema.Applied))
	kv("migrations_pending", len(schema.Pending))
	kv("migrations_unknown", len(schema.Unknown))
	kv("page_size", st.PageSize)
	kv("page_count", st.PageCount)
	kv("freelist_count", st.FreelistCount)
	kv("db_bytes", st.DBBytes)
	kv("wal_bytes", st.WALBytes)
	if sp, err := s.db.Space(); err == nil {
		kv("disk_free_bytes", sp.Free)
		kv("db_free_bytes", sp.Reusable)
		kv("reserve_bytes", sp.Reserve)
		kv("reserve_file_bytes", sp.Ballast)
		kv("room_bytes", sp.Room)
		kv("writes", sp.Writes())
	}
	s.smu.Lock()
	for _, k := range []string{"checkpoint", "vacuum", "integrity_check", "backup"} {
		v := s.maint[k]
		if v == "" {
			v = "-"
		}
		kv("last_"+k, v)
	}
	s.smu.Unlock()
	lost := "-"
	if err := s.db.Lost(); err != nil {
		lost = strings.ReplaceAll(err.Error(), "\n", " ")
	}
	kv("lost_changes", lost)
	return []byte(b.String()), nil
}

// stamp is a time as status files show it.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
