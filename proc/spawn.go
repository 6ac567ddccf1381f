package proc

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LogFile is the background kernel's log, in the data directory.
const LogFile = "log/fazt.log"

// readyFD is the file descriptor on which a background kernel reports.
const readyFD = 3

// Spawn starts this binary as a background kernel with args (which must
// make it call ReportReady), detached in its own session, working directory
// "/", output appended to the data directory's log. It returns once the
// kernel reports that it serves, or with the error it reported.
func Spawn(dataDir string, args []string, timeout time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(dataDir, LogFile)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(exe, append(args, "--ready-fd", fmt.Sprint(readyFD))...)
	cmd.Dir = "/" // never inside a mount it serves
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		close(exited)
	}()

	if err := awaitReady(r, exited, timeout); err != nil {
		cmd.Process.Kill()
		return fmt.Errorf("the kernel did not start: %w; its log (%s) says:\n%s", err, logPath, tail(logPath, 10))
	}
	return nil
}

// KeepReadyFD makes the descriptor ReportReady will use close-on-exec, so
// that the children the kernel starts before it is ready (the backup
// child) do not hold it open. Call it first thing.
func KeepReadyFD(fd int) {
	if fd > 0 {
		syscall.CloseOnExec(fd)
	}
}

// ReportReady tells the process that spawned this kernel how start-up went,
// on the file descriptor it passed, and closes it.
func ReportReady(fd int, err error) {
	if fd <= 0 {
		return
	}
	if f := os.NewFile(uintptr(fd), "ready"); f != nil {
		writeReady(f, err)
	}
}

// writeReady writes "ok" or the error on f, and closes it.
func writeReady(f *os.File, err error) {
	defer f.Close()
	if err != nil {
		fmt.Fprintf(f, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	io.WriteString(f, "ok\n")
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
