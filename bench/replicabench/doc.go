// Command replicabench measures edges (docs/scaling.md): a primary
// replicating to versitygw and an edge following it, as separate processes
// on loopback. It reports the lag from a deploy returning on the primary to
// the edge serving it, under a steady load of deploys and route writes, and
// the edge's HTTP rate against the primary's on the same page (wrk, rounds
// interleaved), and failover: the primary killed with kill -9 to a standby
// taking a write, then a deploy on it to the edge serving it.
package main
