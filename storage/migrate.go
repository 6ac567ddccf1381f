package storage

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

//go:embed migrations/*.sql
var embeddedFiles embed.FS

var embedded, _ = fs.Sub(embeddedFiles, "migrations")

// Compat is the schema compatibility level this binary supports. A database
// whose level is higher was migrated by a fazt that broke compatibility on
// purpose, and this binary refuses to open it.
const Compat = 1

// Migration is one schema change.
type Migration struct {
	Name   string // file name, e.g. 0001_vfs.sql
	SQL    string
	SHA256 string // hex
	Compat int    // level this migration raises the database to; 0 if none
}

// AppliedMigration is a migration recorded in the database.
type AppliedMigration struct {
	Name      string
	SHA256    string
	AppliedAt time.Time
}

// Schema describes the database's schema relative to this binary.
type Schema struct {
	Applied []AppliedMigration
	// Pending are this binary's migrations not yet applied.
	Pending []Migration
	// Unknown are applied migrations this binary does not know: the
	// database was migrated by a newer fazt. This binary runs on it
	// anyway, as the append-only rule allows.
	Unknown []string
	// Compat is the database's compatibility level.
	Compat int
}

var compatLine = regexp.MustCompile(`(?m)^--\s*fazt:compat\s+(\d+)\s*$`)

// LoadMigrations reads the migrations of fsys in name order.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		m := Migration{Name: n, SQL: string(b), SHA256: hex.EncodeToString(sum[:])}
		if err := LintMigration(m.SQL); err != nil {
			return nil, fmt.Errorf("migration %s: %w", n, err)
		}
		if c := compatLine.FindStringSubmatch(m.SQL); c != nil {
			if m.Compat, err = strconv.Atoi(c[1]); err != nil {
				return nil, fmt.Errorf("migration %s: bad compat level: %w", n, err)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// Migrations returns the migrations built into this binary.
func Migrations() ([]Migration, error) { return LoadMigrations(embedded) }

const bootstrap = `
CREATE TABLE IF NOT EXISTS schema_migrations (
	name       TEXT PRIMARY KEY,
	sha256     TEXT NOT NULL,
	applied_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fazt_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`

// Schema returns the schema state found at the last Open or Migrate.
func (db *DB) Schema() Schema { return db.schema }

// Migrate applies the pending migrations (of a database opened with
// NoMigrate) and returns their names.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	var names []string
	for _, m := range db.schema.Pending {
		names = append(names, m.Name)
	}
	if err := db.migrate(ctx, Options{Migrations: db.migrations}); err != nil {
		return nil, err
	}
	return names, nil
}

// CopyTo writes a consistent copy of the database to path (VACUUM INTO),
// which must not exist. Writes wait until it is done (the readers are
// query_only, which VACUUM INTO refuses).
func (db *DB) CopyTo(ctx context.Context, path string) error {
	return db.exclusive(ctx, func() error {
		_, err := db.wc.ExecContext(ctx, "VACUUM INTO '"+strings.ReplaceAll(path, "'", "''")+"'")
		return classify(err)
	})
}

func (db *DB) migrate(ctx context.Context, opt Options) error {
	all, err := LoadMigrations(opt.Migrations)
	if err != nil {
		return err
	}
	// Only write when there is something to do: a database on a full disk
	// must still open.
	var have int
	if err := db.View(ctx, func(tx *Tx) error {
		return tx.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name IN ('schema_migrations', 'fazt_meta')`).Scan(&have)
	}); err != nil {
		return err
	}
	if have < 2 {
		if err := db.WriteSync(ctx, func(tx *Tx) error { return tx.ExecScript(bootstrap) }); err != nil {
			return err
		}
	}
	s, err := db.readSchema(ctx, all)
	if err != nil {
		return err
	}
	if s.Compat > Compat {
		return kernel.E(kernel.NotSupported, fmt.Sprintf(
			"the database needs a newer fazt: its schema compatibility level is %d, this binary supports %d", s.Compat, Compat))
	}
	if len(s.Unknown) > 0 {
		db.log.Warn("database was migrated by a newer fazt; running in compatibility mode",
			"unknown_migrations", strings.Join(s.Unknown, ","))
	}
	if !opt.NoMigrate {
		for _, m := range s.Pending {
			if m.Compat > Compat {
				return kernel.E(kernel.NotSupported, fmt.Sprintf("migration %s needs compatibility level %d, this binary supports %d", m.Name, m.Compat, Compat))
			}
			if err := db.apply(ctx, m); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			db.log.Info("applied migration", "name", m.Name)
		}
		if len(s.Pending) > 0 {
			if s, err = db.readSchema(ctx, all); err != nil {
				return err
			}
		}
	}
	db.schema = s
	return nil
}

func (db *DB) apply(ctx context.Context, m Migration) error {
	return db.WriteSync(ctx, func(tx *Tx) error {
		if err := tx.ExecScript(m.SQL); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations(name, sha256, applied_at) VALUES (?, ?, ?)`,
			m.Name, m.SHA256, time.Now().UnixNano()); err != nil {
			return err
		}
		if m.Compat > 0 {
			_, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES ('compat', ?)
				ON CONFLICT(key) DO UPDATE SET value = excluded.value
				WHERE CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER)`, strconv.Itoa(m.Compat))
			return err
		}
		return nil
	})
}

func (db *DB) readSchema(ctx context.Context, all []Migration) (Schema, error) {
	var s Schema
	err := db.View(ctx, func(tx *Tx) error {
		rows, err := tx.Query(`SELECT name, sha256, applied_at FROM schema_migrations ORDER BY name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a AppliedMigration
			var at int64
			if err := rows.Scan(&a.Name, &a.SHA256, &at); err != nil {
				return err
			}
			a.AppliedAt = time.Unix(0, at)
			s.Applied = append(s.Applied, a)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var compat string
		err = tx.QueryRow(`SELECT value FROM fazt_meta WHERE key = 'compat'`).Scan(&compat)
		switch {
		case err == nil:
			if s.Compat, err = strconv.Atoi(compat); err != nil {
				return fmt.Errorf("bad compat level %q in fazt_meta: %w", compat, err)
			}
		case kernel.KindOf(err) != kernel.NotExist:
			return err
		}
		return nil
	})
	if err != nil {
		return Schema{}, err
	}
	known := make(map[string]Migration, len(all))
	for _, m := range all {
		known[m.Name] = m
	}
	applied := make(map[string]bool, len(s.Applied))
	for _, a := range s.Applied {
		applied[a.Name] = true
		m, ok := known[a.Name]
		if !ok {
			s.Unknown = append(s.Unknown, a.Name)
			continue
		}
		if m.SHA256 != a.SHA256 {
			return Schema{}, kernel.E(kernel.Internal, fmt.Sprintf(
				"migration %s was applied with different content (sha256 %s, this binary has %s); released migrations must never change",
				a.Name, a.SHA256, m.SHA256))
		}
	}
	for _, m := range all {
		if !applied[m.Name] {
			s.Pending = append(s.Pending, m)
		}
	}
	return s, nil
}
