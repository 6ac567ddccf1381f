// Command httpbench serves the same files from fazt, from Caddy's
// file_server and from nginx, all on loopback with logging off, and loads
// each with wrk in interleaved rounds, so that the machine's noise touches
// every server alike. The rows: a 2 KB HTML page, a 100 KB asset, a 5 MB
// file, and a real multi-file site (Python's HTML documentation, from
// Debian's python3-doc) with 1,000 of its URLs in rotation, without and
// with Accept-Encoding: gzip, br. It prints the median requests/s, p99
// latency and MB/s of each, fazt's ratios to each peer, and fazt's
// resident memory (anonymous, and the database's memory map apart) idle
// and at its peak under each row.
//
// fazt is set up as a user would: the CLI puts the files in /fs/bench and
// routes every host ("*") there. Before the site rows are timed every
// server has been asked for every URL, and fazt has made its compressed
// forms (store_queued 0 in /net/status): they measure a site in service.
//
//	make bench-http                      # installs wrk, nginx, caddy, python3-doc
//	go run ./bench/httpbench -d 10s -rounds 5
package main
