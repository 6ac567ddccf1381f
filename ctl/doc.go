// Package ctl builds the control plane's synthetic file trees: directories of
// files whose content fazt generates when read and whose writes are commands,
// the way /proc, /sys and Plan 9's ctl files work. Each subsystem builds its
// own part of the tree with it (an AddFiles method in the subsystem's
// package), and proc binds the parts. A directory that several packages
// build is their union, as Plan 9's bind -a makes one: one subdirectory,
// status renders one after the other, ctl verbs joined, one err (tree.go).
// Every file remembers the packages that added it (origin.go), so that
// internal/arch can hold the layout to docs/tree.md; Outcomes records the
// last run of a ctl verb for status files.
//
// # Kinds of file
//
//	status   0444  "key value" lines, rendered at each open
//	value    0644  one value plus a newline; a write sets it ("echo x > f")
//	ctl      0644  each line written is a command "verb args..." from a table;
//	               a read prints the table (the file's help)
//	err      0444  the reason for the last failed write in this directory
//	events   0444  a read blocks until something happens, then one line each
//	log      0444  the recent kernel log; offsets are absolute, so tail -f works
//
// A collection is a directory whose entries are value files kept elsewhere
// (routes in SQLite): writing a new name creates an entry, rm deletes it, a
// name that is not a valid key is refused (EINVAL). Names that look like a
// tool's temporary file (".name.XXXXXX", "name~", ".name.swp", "#name#",
// "name.tmp") are drafts: kept in memory, free in content, until renamed onto
// a valid name, which sets that entry from the draft's first line. So rsync,
// cp and editors that save by rename all work on a collection. Drafts do not
// survive a restart.
//
// # Writes
//
// FUSE delivers writes in the writer's pieces and a shell ignores errors at
// close, so writes are parsed per line as they arrive: a complete line is
// applied at once and its error is the write's error (echo prints "write
// error: Invalid argument"); a last line without a newline is applied at
// close. A failed write records "TIME op PATH: reason" in the nearest err
// file up the tree and in the kernel log. Input is capped at 64 KiB per open.
// The truncate that "echo x > f" sends before writing is accepted and does
// nothing; so are changes of mode, owner and times (rsync sends them), which
// synthetic files do not keep.
//
// # Reads
//
// Every handle is opened with direct I/O (kernel.DirectIO): the page cache
// would serve an old rendering. stat reports the true size of what a read
// returns (rsync trusts st_size), except for events files, whose content is
// endless. A read honours its offset and never returns more than asked.
package ctl
