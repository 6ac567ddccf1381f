// Command httpbench serves the same files (a 2 KB HTML page, a 100 KB
// asset, a 5 MB file) from fazt, from Caddy's file_server and from nginx,
// all on loopback with logging off, and loads each with wrk in interleaved
// rounds, so that the machine's noise touches every server alike. It prints
// the median requests/s and p99 latency of each, fazt's ratio to each peer,
// and fazt's resident memory idle and at its peak under load.
//
// fazt is set up as a user would: the CLI puts the files in /fs/bench and
// routes every host ("*") there; it serves them from SQLite through its
// in-memory cache (files up to 1 MiB) or streamed (the 5 MB file).
//
//	make bench-http                      # installs wrk, nginx, caddy
//	go run ./bench/httpbench -d 10s -rounds 5
package main
