-- Extended attributes of /fs inodes, in the user. namespace: name (with
-- its prefix) and value, per inode. They go with their inode.

CREATE TABLE xattrs (
	ino   INTEGER NOT NULL,
	name  TEXT NOT NULL,
	value BLOB NOT NULL,
	PRIMARY KEY (ino, name)
) WITHOUT ROWID;
