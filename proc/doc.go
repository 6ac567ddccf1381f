// Package proc owns the kernel's life cycle: it wires the parts together at
// start-up (the only place that knows all of them), runs the kernel in the
// foreground until it is told to stop, starts it in the background for
// `fazt fs mount`, and builds the /proc tree (and /README). Every other
// part of the tree is built by the package that owns it (AddFiles); proc
// only binds them (bind.go).
//
// # Start-up
//
// Boot takes the data directory's lock (one kernel per data directory, or
// the one handed over in an upgrade),
// opens the database (storage, which applies migrations), opens the /fs tree
// on it (vfs, which collects crash leftovers), starts the subsystems, and
// binds their trees into a new kernel. Close undoes it in reverse.
//
// # Processes
//
// `fazt proc start` runs a kernel in the foreground: what systemd runs.
// `fazt fs mount DIR` starts one in the background, detached in its own
// session with its working directory at /, and returns when the child says
// the mount is usable, through a pipe on file descriptor 3 ("ok", or the
// error). The child logs to DATA/log/fazt.log.
//
// # Upgrades
//
// Upgrade (upgrade PATH in /proc/ctl) checks the new binary, swaps it in
// (the old one kept as fazt.prev) and starts it with the listening
// sockets, the data directory's lock and two pipes (handoff.go): the new
// kernel boots beside the old one with its tree opened Shared, says ready,
// and waits while the old kernel stops accepting, drains, unmounts and
// commits; then it resyncs what it read meanwhile and serves. Connections
// arriving in between wait in the sockets' backlog. A new kernel that is
// not ready in time is killed and the old binary put back.
//
// # Supervision
//
// A kernel started by `fazt fs mount` runs under a supervisor of the same
// binary (supervise.go), a child subreaper that follows the data directory's
// kernels through its lock and starts one again when one dies, putting the
// previous binary back if the dead one came from an upgrade.
//
// # Edges
//
// A kernel asked to follow a primary's replica (Config.Follow, recorded in
// DATA/node.json) is an edge (follow.go): a fresh data directory is
// restored from the replica first (to a file beside the database, renamed
// into place with its position), the database is opened as a follower's
// and the tree Shared, and the backup driver runs a follower instead of a
// child. After each apply the kernel forgets what it read of the database
// (the tree's caches, with the mount's and the site cache's through a
// kernel.Reloaded change) and reads the routes and TLS settings again. A
// primary sends each ACME challenge to the replica and waits for the
// followers before the CA looks (challengeReachesFollowers).
//
// A standby (Config.Standby, recorded too) is an edge whose driver takes
// the primary's place when the primary's lease expires; the kernel then
// forgets that it follows and reads its tree, routes and certificates anew
// (promoted). A running kernel with a fresh database becomes an edge
// through /driver/litestream/follow (becomeFollower): it records what it
// follows, moves its database aside on Close and the command starts again
// in place (Exec). Every data directory has a stable name (node.id in
// node.json), the lease's owner while it is the primary.
//
// # Memory
//
// The runtime's soft memory limit comes from /proc/memory_limit; past 80%
// of it the caches are shed (memory.go).
//
// # Files
//
//	/proc/version   the version of the running binary
//	/proc/status    key value lines: version, pid, uptime, memory, mounts, ...
//
// See docs/tree.md for every path.
package proc
