package failpoint

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const (
	pointsEnv = "FAZT_FAILPOINTS"
	dirEnv    = "FAZT_FAILPOINT_DIR"
)

// armed is read once, at start: the points asked for.
var armed = func() map[string]bool {
	m := map[string]bool{}
	if os.Getenv(dirEnv) == "" {
		return m
	}
	for _, p := range strings.Split(os.Getenv(pointsEnv), ",") {
		if p = strings.TrimSpace(p); p != "" {
			m[p] = true
		}
	}
	return m
}()

// Hit kills the process with SIGKILL if the point name is armed and has
// not fired yet.
func Hit(name string) {
	if !armed[name] {
		return
	}
	f, err := os.OpenFile(filepath.Join(os.Getenv(dirEnv), name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return // fired before (or nowhere to say so: never fire twice)
	}
	f.Close()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
