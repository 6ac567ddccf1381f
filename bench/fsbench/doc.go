// Command fsbench measures fazt's mount against go-fuse's loopback example
// and against the bare directory, on the same disk, in one run, and prints
// the medians and the ratios as a Markdown table (make bench-fs).
//
// Four targets: the bare directory; go-fuse's example/loopback built from
// the module (as shipped: as root on Linux 6.9+ it passes file data through
// the kernel, so its data rows are near native); the same loopback with
// passthrough disabled (every read and write goes through the server, as
// fazt's do); and fazt, mounted by `fazt fs mount`.
//
// Workloads: rsync -a of a generated 4,000-file, ~50 MB site (initial,
// no-op, 100 files changed); tar -x of the Go source tree; ls -lR of it with
// cold caches; a 1 GiB sequential write (dd, conv=fsync) and a cold read;
// 10,000 small files created, stat'ed, read and unlinked.
//
// Timings on these machines are noisy: each row is the median of -runs runs,
// and all targets are measured in the same run, interleaved. This is a
// benchmark, never a test.
//
// "fsbench loopback [-nopassthrough] ORIG MNT" is the loopback server used
// for the third target; fsbench starts it itself.
package main
