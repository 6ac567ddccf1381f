// Command upgradebench measures what clients of a site see while the kernel
// is replaced: fazt proc upgrade (the sockets handed over) against fazt proc
// restart (stop, then start: what a plain service restart does), under the
// same load, in one run. Results are for docs/benchmarks.md.
package main
