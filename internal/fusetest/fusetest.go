package fusetest

import (
	"os"
	"testing"
)

// Require skips t, or fails it in CI, when FUSE mounts are not possible.
func Require(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("FUSE tests must run in CI, but /dev/fuse cannot be opened: %v", err)
	}
	t.Skipf("no usable /dev/fuse (%v); set CI=1 to make this a failure", err)
}
