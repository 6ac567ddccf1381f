// Command fazt is the single binary of fazt: the kernel and its CLI.
//
// Every command is a thin wrapper over operations on the tree. When a
// kernel runs for the data directory, the CLI goes through its mount; when
// none runs, the CLI boots a kernel in its own process for the one command.
// Either way the result is the same. See docs/cli.md for every command.
//
// main only maps errors to exit codes: 0 success, 1 failure (the reason is
// printed), 2 bad usage.
package main
