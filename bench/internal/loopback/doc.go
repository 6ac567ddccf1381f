// Package loopback starts the real parts the benchmarks measure against on
// loopback: an S3 server (versitygw) and fazt kernels as processes of their
// own, each waited for until it answers.
package loopback
