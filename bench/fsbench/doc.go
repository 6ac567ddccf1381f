// Command fsbench measures fazt's mount against go-fuse's loopback example,
// JuiceFS and the bare directory, on the same disk, in one run, and prints
// the medians and the ratios as a Markdown table (make bench-fs).
//
// Five targets: the bare directory; go-fuse's example/loopback built from
// the module (as shipped: as root on Linux 6.9+ it passes file data through
// the kernel, so its data rows are near native); the same loopback with
// passthrough disabled (every read and write goes through the server, as
// fazt's do: the floor for a FUSE server); JuiceFS with SQLite metadata and
// its file storage on the same disk (the same stack as fazt: go-fuse and
// mattn/go-sqlite3; make bench-fs builds the pinned version into
// bin/juicefs); and fazt, mounted by `fazt fs mount`.
//
// Workloads (-workloads picks groups): rsync -a of a generated 4,000-file,
// ~50 MB site (initial, no-op, 100 files changed); tar -x of the Go source
// tree, then ls -lR, find and grep -r of it with cold caches; git clone of a
// repository of the Go tree made by the bench, git status with cold caches
// and git checkout of its other tag (about 2,000 files change); autoreconf,
// configure and make of a small C project (pjdfstest, vendored in
// test/conformance); a 1 GiB sequential write (dd, conv=fsync) and a cold
// read; fio's 4 KiB random reads (cold) and random writes each followed by
// fsync, in a 256 MiB file; 10,000 small files created, stat'ed, read and
// unlinked.
//
// Timings on these machines are noisy: each row is the median of -runs runs,
// and all targets are measured in the same run, interleaved. This is a
// benchmark, never a test.
//
// "fsbench loopback [-nopassthrough] ORIG MNT" is the loopback server used
// for the third target; fsbench starts it itself.
package main
