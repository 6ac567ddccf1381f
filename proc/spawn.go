package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
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
	go func() { exited <- cmd.Wait() }()

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		switch {
		case s == "ok":
			return nil
		case strings.HasPrefix(s, "error: "):
			<-exited
			return errors.New(strings.TrimPrefix(s, "error: "))
		}
		// The pipe closed without a word: the child died.
		err := <-exited
		return fmt.Errorf("the kernel exited (%v); its log says:\n%s", err, tail(logPath, 10))
	case <-time.After(timeout):
		cmd.Process.Kill()
		return kernel.E(kernel.Unavailable, fmt.Sprintf("the kernel did not start within %v; see %s", timeout, logPath))
	}
}

// ReportReady tells the process that spawned this kernel how start-up went,
// on the file descriptor it passed, and closes it.
func ReportReady(fd int, err error) {
	if fd <= 0 {
		return
	}
	f := os.NewFile(uintptr(fd), "ready")
	if f == nil {
		return
	}
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
