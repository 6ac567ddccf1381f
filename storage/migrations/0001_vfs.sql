-- The /fs tree: inodes, directory entries, and content in hash-addressed
-- chunks. Times are nanoseconds since the Unix epoch.

CREATE TABLE inodes (
	ino    INTEGER PRIMARY KEY,               -- from a counter in vfs: not reused while fazt runs
	mode   INTEGER NOT NULL,                  -- S_IFMT type bits | permission bits
	nlink  INTEGER NOT NULL,
	uid    INTEGER NOT NULL DEFAULT 0,
	gid    INTEGER NOT NULL DEFAULT 0,
	size   INTEGER NOT NULL DEFAULT 0,
	atime  INTEGER NOT NULL DEFAULT 0,
	mtime  INTEGER NOT NULL DEFAULT 0,
	ctime  INTEGER NOT NULL DEFAULT 0,
	btime  INTEGER NOT NULL DEFAULT 0,
	parent INTEGER NOT NULL DEFAULT 0,        -- directories: the directory holding it
	target TEXT                               -- symbolic links: the target
);

-- A rename is one UPDATE of one row here.
CREATE TABLE dentries (
	parent INTEGER NOT NULL,
	name   TEXT NOT NULL,
	ino    INTEGER NOT NULL,
	PRIMARY KEY (parent, name)
) WITHOUT ROWID;

-- Content is cut in fixed-size blocks (fazt_meta vfs.block_size); each block
-- points to a chunk, stored once per distinct content. refs counts the blocks
-- that point to a chunk.
CREATE TABLE chunks (
	id   INTEGER PRIMARY KEY,   -- from a counter in vfs, like inode numbers
	hash BLOB NOT NULL UNIQUE, -- SHA-256 of the data
	size INTEGER NOT NULL,
	refs INTEGER NOT NULL DEFAULT 0
);

-- The bytes live apart from the bookkeeping, so changing refs never rewrites
-- a large row.
CREATE TABLE chunk_data (
	id   INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);

-- Missing blocks are holes and read as zeros.
CREATE TABLE blocks (
	ino   INTEGER NOT NULL,
	idx   INTEGER NOT NULL,
	chunk INTEGER NOT NULL,
	PRIMARY KEY (ino, idx)
) WITHOUT ROWID;

INSERT INTO fazt_meta(key, value) VALUES ('vfs.block_size', '262144');

INSERT INTO inodes(ino, mode, nlink, uid, gid, atime, mtime, ctime, btime, parent)
VALUES (1, 16877, 2, 0, 0,
	CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER),
	CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER),
	CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER),
	CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER),
	1);
