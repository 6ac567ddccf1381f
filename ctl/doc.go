// Package ctl builds synthetic file trees: directories of files whose
// content fazt generates when they are read, the way /proc and /sys work.
// Subsystems use it to contribute their control subtree (/proc, later /net,
// /storage, ...) to the kernel's namespace.
//
// # Design
//
// A Tree is a fixed set of nodes built at start-up and served as a
// kernel.FileSystem. A file's content is rendered from live state: at
// lookup and getattr, so stat reports its true size (tools such as rsync
// trust st_size), and once per open, so one reader sees one consistent
// rendering whatever its read sizes and offsets. Handles are opened with
// direct I/O (kernel.DirectIO), so the kernel's page cache never serves an
// old rendering.
//
// Mode bits say intent: 0444 for status files, 0644 for values, 0200 for
// command-only files, 0600 for secrets.
//
// # Limitations
//
// This first version has read-only files only; writable value and ctl
// files, err files and blocking events files come with the control plane.
package ctl
