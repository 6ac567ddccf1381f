// Package fusetest decides whether tests that need a real FUSE mount run:
// they run wherever /dev/fuse can be opened, skip elsewhere, and fail in CI
// (CI set) when FUSE is missing, so a broken CI machine never passes by
// skipping them.
package fusetest
