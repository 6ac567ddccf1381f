// Package storage is fazt's SQLite: one database file that holds the world.
//
// # Design
//
// The database is opened with github.com/mattn/go-sqlite3 in WAL mode. There
// is one write path, a pool of exactly one connection on which every write
// transaction runs (BEGIN IMMEDIATE), so writers queue in Go instead of
// spinning on SQLITE_BUSY; and a pool of readers that never block the writer
// and never see a half-committed transaction. The same pragmas are applied to
// every connection by the driver's connect hook (see pragmas.go), and a test
// checks them on both pools.
//
// synchronous=NORMAL: a commit survives a crash or kill -9 of fazt; a power
// cut may lose the last few commits but never corrupts the file. Callers that
// promise durability (fsync) use WriteSync, which commits with
// synchronous=FULL.
//
// # Space
//
// The database never fills its disk (space.go): every change that may grow it
// is held to a reserve of free space (Room, and Write for metadata), counting
// the database's free pages as room; deletions (WriteFreeing) are not; a
// ballast file lets deletions and an open work on a disk filled by others; on
// a short disk the WAL is checkpointed and truncated at once, and a checkpoint
// the disk cannot take waits. Space reports it all for status files. Free
// pages are reused before the file grows, and the file shrinks by itself
// (shrink.go: incremental auto-vacuum, stepped by the checkpointer) while
// much of it is free.
//
// # Migrations
//
// The schema is built by SQL files embedded from migrations/, applied in name
// order, each in its own transaction, and recorded by name and SHA-256 in
// schema_migrations. They are append-only ("expand only"): never DROP, never
// RENAME, new columns nullable or defaulted, no FOREIGN KEY constraints
// (integrity is enforced in Go). So an older fazt still runs on a database
// that a newer one migrated, and a rollback of the binary never needs a
// rollback of the schema. A lint (lint.go) and a golden list of released
// migrations (testdata/released-migrations.txt) keep the rule.
//
// The escape hatch is the compatibility level: a migration may raise it with
// a "-- fazt:compat N" line, and a binary that supports a lower level refuses
// to open the database with a clear error, instead of misreading it.
//
// # Replicated pages
//
// A follower's database is kept current with the primary's transactions as
// page images (pages.go): DB.ApplyPages writes one transaction's pages
// through SQLite's sqlite_dbpage table, in one durable write transaction, so
// readers see it whole and their snapshots hold. The Makefile compiles
// SQLite with SQLITE_ENABLE_DBPAGE_VTAB for that; DB.HasPageWrites says
// whether a binary has it. A database opened with Options.Follows takes
// pages only that way: every other write is refused (NotPrimary, naming
// the replica), nothing is migrated or vacuumed, and its file stays the
// primary's byte for byte (but the header's change counter) until Promote.
//
// # Errors
//
// SQLite errors are classified here and nowhere else: no rows is NotExist, a
// unique or primary key constraint is Exist, busy or locked is Busy, a full
// disk is NoSpace, everything else Internal. Callers see *kernel.Error.
//
// # In the tree
//
// DB.AddFiles builds /storage: status (pages, sizes, space, the last
// maintenance), migrations/, and ctl (checkpoint, vacuum, integrity-check,
// migrate); the backup driver adds its files beside them.
package storage
