// Package vfs is the /fs tree: a POSIX file system stored in fazt's SQLite
// database, served to every front end through the kernel.FileSystem
// interfaces.
//
// # Schema
//
// The tables follow real file systems (see storage/migrations/0001_vfs.sql):
// inodes, directory entries keyed by (parent, name) so that a rename is one
// row update whatever the size of the subtree, and content cut into
// fixed-size blocks (fazt_meta vfs.block_size, 256 KiB) that point to chunks
// addressed by their SHA-256. Identical content is stored once, whichever
// file or site holds it; a chunk counts its references and is deleted when
// the last block that points to it goes. Blocks that are all zeros are not
// stored (holes). Special files (FIFOs, sockets, devices) are inodes with
// their type in the mode and a device's number in rdev, and no content;
// extended attributes of the user. namespace are rows of xattrs.
//
// # Byte ranges
//
// fallocate, SEEK_DATA/SEEK_HOLE and copy_file_range (ranges.go) work on the
// overlay's blocks: a punched block becomes a hole, a seek asks which blocks
// hold data, and a copy points the destination's blocks at the source's
// chunks (pinned where they are found), so cp within the mount stores
// nothing.
//
// # Writes
//
// Writes from all the handles open on one file go to an in-memory overlay
// of that file (openFile), shared by those handles, so they see each other's
// writes as POSIX wants. The overlay is committed in one transaction at
// flush (every close), fsync or last release: until then nobody reading the
// committed tree (another open, the HTTP server, a backup) sees any of it,
// and afterwards they see all of it. An open with O_TRUNC truncates the
// overlay, not the committed file, so "cp new old" or "echo x > f" replace
// the content atomically too.
//
// Large files are not held in memory: when a file's overlay grows past a
// few MiB, its blocks are stored as chunks in their own transactions and the
// overlay keeps only their ids (pinned in memory, so the garbage collector
// leaves them alone); the final commit then only links blocks to chunks.
// Chunks left behind by a crash have no references and are deleted at the
// next start, as are files that were deleted while open.
//
// Many small files at once (a deploy) skip all of that: WriteFiles makes
// them in one transaction, each a few rows (entry, inode, chunk, blocks),
// replacing what their names held as a rename would. Through the path calls
// each would cost a create, a write and a close, three transactions, plus
// the lookups of its path. Clone and WriteFiles with From share blocks
// instead of copying them: the chunks' reference counts go up, once per
// chunk per transaction.
//
// # Queries
//
// The hot point queries (a name in a directory, a block's data) are written
// as a subquery, not as a join: measured on this SQLite, a lookup as a join
// of dentries and inodes costs about 16 us, as a subquery 6.5 us. Manifests
// of a whole tree are one recursive query on the reader pool, after a
// commit, so that a large one does not hold up the writer.
//
// # Concurrency
//
// Tree changes (create, rename, unlink, ...) are single write transactions;
// every check that decides them (does the target exist, is the directory
// empty, would the rename make a cycle) runs inside that transaction, so
// there is no tree lock in Go. Each open file has two locks: flushMu orders
// the writers, truncations and commits of that one file and is held across
// its SQLite writes; mu guards the overlay's maps and is never held across a
// SQLite call, so readers of a file are never stalled by a commit. Lock
// order: flushMu, then mu, then FS.mu or FS.pinMu.
//
// Reads of committed content go through the reader pool and a cache of
// chunks bounded in bytes (the mount's; the site server's published reads
// do not fill it, they keep their own copies). A small read (up to 32 KiB)
// of a chunk that is not cached asks for its bytes only, with substr,
// which reads the blob's overflow pages only as far as it needs.
// Attributes and names are cached too (attrcache.go), forgotten by every
// announced change: the first lookup that misses in a directory reads the
// whole directory (up to 1,024 entries) in one query, and its listing then
// answers missing names until an entry is added or removed. A change that
// makes an entry, commits a file or sets attributes caches the row it
// wrote (RETURNING), forgetting the old one inside its transaction
// (FS.settle), so no later change's forget can come before it.
//
// Every statement is a round trip through database/sql and cgo into
// SQLite (2-3 us each with the prepared-statement cache): the common
// changes are written in as few as SQLite allows. An unlink finds and
// removes the entry in one statement (DELETE ... RETURNING) and a create
// touches and reads its directory in one (UPDATE ... RETURNING); a
// refusal found after (a directory to unlink, a file to create in) is
// taken back with the change's savepoint.
package vfs
