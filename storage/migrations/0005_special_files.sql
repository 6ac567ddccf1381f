-- Special files in /fs: FIFOs, sockets and character and block devices are
-- inodes like any other (their type in mode); a device's number is kept here.
-- 0 for every other inode.

ALTER TABLE inodes ADD COLUMN rdev INTEGER NOT NULL DEFAULT 0;
