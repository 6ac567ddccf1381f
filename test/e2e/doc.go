// Package e2e tests the built fazt binary from the outside, the way users
// run it: a background kernel started by `fazt fs mount`, driven by real
// tools (tar, cp, rsync, sed, find, ls, du, sha256sum, dd), and real faults
// (kill -9 in the middle of an rsync, a full disk), with the database checked
// afterwards by opening it exactly as fazt does.
//
// The binary is built once by TestMain with the same build tags as every
// other test. Tests that need root (a tmpfs for the full disk, other users
// for permission checks) fail in CI when not root and skip elsewhere.
package e2e
