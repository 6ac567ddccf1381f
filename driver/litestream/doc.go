// Package litestream is the driver that backs the database up
// continuously, with Litestream (github.com/benbjohnson/litestream, v0.5),
// to S3-compatible storage or a directory, takes backups on demand and
// restores to a point in time.
//
// # Why a child process
//
// Litestream opens the database with its own SQLite copy (modernc.org/sqlite)
// while the kernel uses mattn/go-sqlite3. Two SQLite copies in one process do
// not see each other's POSIX locks: a checkpoint of one truncated the WAL
// under the other's read transaction when both ran in the kernel (measured,
// see ../shared/design/ARCHITECTURE.md). So Litestream runs in a child process
// of the same binary ("fazt driver litestream run", hidden), where the locks
// between the two copies work as between any two processes. The kernel
// (Driver) starts it, kills it with the kernel (Pdeathsig), restarts it with
// backoff when it dies, and talks to it over a Unix socket in the data
// directory: GET /status, POST /backup, GET /backups. A restore runs in a
// process of its own too ("fazt driver litestream restore"), and never opens
// the live database.
//
// # One replica
//
// Litestream 0.5 replicates a database to one replica ("a single remote data
// authority"; 0.3 allowed several and 0.5 dropped it). The tree is shaped for
// names (/driver/litestream/replicas/<name>) but takes one at a time.
//
// # Configuration
//
// The replica's URL is a setting in the database (so a restored database
// knows where it came from); its credentials are not: they live in 0600 files
// under DATA/secrets/litestream/, are handed to the child in its environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), and never read back through the
// tree. The child's environment drops AWS_CA_BUNDLE, which breaks the AWS
// SDK when set to a bundle it cannot use.
//
// # Following a replica
//
// A Follower (follow.go) keeps a restored database current with its
// replica: each new LTX file, found from level 0 or, past compaction, from
// the lowest level that covers the gap, is checksummed and applied as one
// transaction through storage.ApplyPages; the last transaction applied is
// kept beside the database. Litestream's own follow mode writes pages into
// the file from outside SQLite, which readers that keep their connections
// never see. On a follower's database (an edge: storage.Options.Follows)
// the Driver runs a Follower instead of a child, in the kernel's process
// (its S3 client gets the saved credentials, and the process drops
// AWS_CA_BUNDLE as the child's environment does), and calls
// Options.Applied after each apply. The child's POST /sync sends what is
// committed to the replica at once: a primary's ACME challenge must reach
// the followers before the CA asks for it.
//
// # One writer: the lease
//
// A primary replicating to S3 writes under the replica's lease (lease.go:
// Litestream's s3.Leaser, conditional writes, a stable owner per data
// directory). The kernel holds it (term.go): taken before the child starts,
// renewed every third of its TTL, with the time the child may write until
// (its expiry less a sixth) kept in DATA/litestream/lease; the child's
// replica client refuses every write and deletion past that time
// (fence.go), so a kernel that stops renewing stops its child's writes
// before anyone may take over. A renewal refused because another machine
// took the lease deposes the kernel (its child killed, storage.DB.Depose),
// and a later generation than the one the data directory held is never
// taken by it. A standby (standby.go) is a follower that watches the lease
// and, a sixth of the TTL past its expiry, takes it, applies what reached
// the replica, promotes its database and replicates under it with fresh
// Litestream state (its first upload a snapshot: Litestream's "database
// behind replica" path). File replicas have no lease (no conditional
// writes): no standby, no fencing.
//
// # Checkpoints
//
// While the child runs, the kernel's checkpointer only runs PASSIVE
// checkpoints: Litestream holds a read transaction to keep the WAL it has not
// copied yet, and a TRUNCATE checkpoint from the kernel would wait on it with
// writers blocked. Litestream truncates the WAL itself.
//
// # In the tree
//
// Driver.AddFiles builds /driver/litestream (replicas/, credentials/,
// retention, lease_ttl, follow, status); Driver.AddStorageFiles adds the
// backup verb, backups/ and last_backup to /storage, beside storage's own
// files.
package litestream
