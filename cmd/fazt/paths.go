package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/proc"
)

func absPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	return abs, nil
}

func defaultDataDir() (string, error) { return proc.DefaultDataDir() }

// unmountSyscall unmounts dir: umount2 as root, fusermount otherwise.
func unmountSyscall(dir string) error {
	if os.Geteuid() == 0 {
		err := syscall.Unmount(dir, 0)
		if errors.Is(err, syscall.EBUSY) {
			return kernel.Wrap(kernel.Busy, err)
		}
		return err
	}
	for _, prog := range []string{"fusermount3", "fusermount"} {
		path, err := exec.LookPath(prog)
		if err != nil {
			continue
		}
		// fusermount's exit status does not say why it failed; pass on
		// what it printed, with the way out.
		out, err := exec.Command(path, "-u", dir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s (if it is busy, close what uses it, or use --lazy)", strings.TrimSpace(string(out)))
		}
		return nil
	}
	return errors.New("cannot unmount: not root, and no fusermount3 or fusermount installed")
}
