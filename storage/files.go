package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/ctl"
	"github.com/fazt-sh/fazt/kernel"
)

// AddFiles adds the database's files to d (/storage): status, migrations/,
// and the maintenance verbs of ctl. migrate applies pending migrations the
// way the kernel does at start (after a backup, which is not storage's to
// take). Outcomes are published on ev.
func (db *DB) AddFiles(d ctl.Dir, ev *kernel.Events, migrate func(context.Context) error) {
	outcomes := ctl.NewOutcomes(ev, "storage")
	d.Status("status", func(ctx context.Context) ([]byte, error) { return db.status(ctx, outcomes) })
	migs := d.Dir("migrations")
	schema := db.Schema()
	for _, a := range schema.Applied {
		state := "applied"
		for _, u := range schema.Unknown {
			if u == a.Name {
				state = "unknown (applied by a newer fazt)"
			}
		}
		migs.Status(a.Name, ctl.Text(fmt.Sprintf("name %s\nsha256 %s\napplied %s\nstate %s\n",
			a.Name, a.SHA256, a.AppliedAt.UTC().Format(time.RFC3339), state)))
	}
	d.Ctl("ctl", []ctl.Command{
		{Verb: "checkpoint", Help: "copy the write-ahead log into the database file and truncate it",
			Run: outcomes.Run("checkpoint", db.Checkpoint)},
		{Verb: "vacuum", Help: "rewrite the database without its free pages, giving their space back",
			Run: outcomes.Run("vacuum", db.Vacuum)},
		{Verb: "integrity-check", Help: "run PRAGMA integrity_check; the result is in status",
			Run: outcomes.Run("integrity_check", db.IntegrityCheck)},
		{Verb: "migrate", Help: "back up, then apply pending migrations (the kernel applies them at start)",
			Run: func(ctx context.Context, _ []string) error { return migrate(ctx) }},
	})
	d.Err()
}

// status renders /storage/status.
func (db *DB) status(ctx context.Context, outcomes *ctl.Outcomes) ([]byte, error) {
	st, err := db.Stats(ctx)
	if err != nil {
		return nil, err
	}
	schema := db.Schema()
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s %v\n", k, v) }
	kv("schema_compat", schema.Compat)
	kv("binary_compat", Compat)
	kv("migrations_applied", len(schema.Applied))
	kv("migrations_pending", len(schema.Pending))
	kv("migrations_unknown", len(schema.Unknown))
	kv("page_size", st.PageSize)
	kv("page_count", st.PageCount)
	kv("freelist_count", st.FreelistCount)
	kv("auto_vacuum", map[int64]string{0: "none", 1: "full", 2: "incremental"}[st.AutoVacuum])
	kv("db_bytes", st.DBBytes)
	kv("wal_bytes", st.WALBytes)
	if sp, err := db.Space(); err == nil {
		kv("disk_free_bytes", sp.Free)
		kv("db_free_bytes", sp.Reusable)
		kv("reserve_bytes", sp.Reserve)
		kv("reserve_file_bytes", sp.Ballast)
		kv("room_bytes", sp.Room)
		kv("writes", sp.Writes())
	}
	b.WriteString(outcomes.Lines("checkpoint", "vacuum", "integrity_check"))
	lost := "-"
	if err := db.Lost(); err != nil {
		lost = strings.ReplaceAll(err.Error(), "\n", " ")
	}
	kv("lost_changes", lost)
	return []byte(b.String()), nil
}
