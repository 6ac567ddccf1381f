// Command backupbench measures fazt's backups to a real S3 server on
// loopback (versitygw): a backup on demand and a restore of a 100 MB and a
// 1 GB database, each against the floor of moving the same database by hand
// (a consistent copy with VACUUM INTO uploaded with one PutObject, and that
// object downloaded), and the replication lag under a steady write load.
package main
