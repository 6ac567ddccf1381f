package proc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A kernel started by `fazt fs mount` has no service manager to bring it
// back, so it gets a supervisor: a small process of the same binary that
// starts the kernel as its child and waits. It is a child subreaper, so a
// kernel started by an upgrade (a child of the previous kernel) becomes its
// child when the previous one exits, and it knows of every kernel of the
// data directory through the directory's lock.
//
//   - The kernel exits 0 (unmounted, stopped, SIGTERM) and nobody holds the
//     lock: the supervisor exits too.
//   - The kernel exits 0 and another process holds the lock: an upgrade
//     handed over; the supervisor watches the new kernel.
//   - The kernel dies (a signal, an error exit): the supervisor starts a
//     kernel again on the same mount point, after a pause that grows with
//     repeated deaths (up to a minute). If the dead kernel was the new one
//     of an upgrade, the previous binary is put back first (it and the new
//     one swap places: the new one is then fazt.prev). The new kernel says
//     why it was started in /proc/status (restarted) and in the log.

// restartedEnv carries, to a kernel the supervisor starts again, why.
const restartedEnv = "FAZT_RESTARTED"

// Restarted returns why the supervisor started this kernel again, or "",
// and takes it out of the environment.
func Restarted() string {
	v := os.Getenv(restartedEnv)
	os.Unsetenv(restartedEnv)
	return v
}

// SuperviseConfig says what Supervise runs.
type SuperviseConfig struct {
	DataDir string
	// Args start a kernel: this binary's arguments, without --ready-fd.
	Args []string
	// Ready is told how the first start went.
	Ready func(error)
	// Log receives the supervisor's lines (the data directory's log).
	Log *slog.Logger
}

// Backoff between restarts: it doubles with each death of a kernel that
// ran less than stableAfter, up to maxBackoff.
const (
	minBackoff  = time.Second
	maxBackoff  = time.Minute
	stableAfter = time.Minute
)

// Supervise starts the kernel and keeps one running until a kernel of the
// data directory stops on purpose. SIGTERM and SIGINT are passed on to the
// kernel.
func Supervise(ctx context.Context, cfg SuperviseConfig) error {
	exe, err := os.Executable()
	if err != nil {
		cfg.Ready(err)
		return err
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		err = fmt.Errorf("cannot supervise the kernel: prctl: %w", err)
		cfg.Ready(err)
		return err
	}
	sv := &supervisor{cfg: cfg, exe: exe}
	pid, err := sv.start("")
	cfg.Ready(err)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for range sigs {
			if h, ok := ReadHolder(cfg.DataDir); ok {
				syscall.Kill(h.PID, syscall.SIGTERM)
			}
			sv.stopping.Store(true)
		}
	}()
	return sv.watch(pid)
}

type supervisor struct {
	cfg      SuperviseConfig
	exe      string
	stopping atomic.Bool // a signal asked the kernel to stop
}

// watch waits for kernels to end and starts them again, until one stops on
// purpose.
func (sv *supervisor) watch(pid int) error {
	log := sv.cfg.Log
	upgraded := false // pid is the new kernel of an upgrade
	started := time.Now()
	backoff := minBackoff
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.ECHILD {
			// No child: the kernel is not our descendant (it could
			// not be reparented here). Follow it through the lock.
			for {
				if _, ok := ReadHolder(sv.cfg.DataDir); !ok {
					log.Warn("supervisor: the kernel is gone; its end was not seen here, so it is not started again")
					return nil
				}
				time.Sleep(time.Second)
			}
		}
		if err != nil {
			return err
		}
		if got != pid {
			continue // a child of a dead kernel, reaped
		}
		if next, ok := sv.successor(pid); ok {
			log.Info("supervisor: an upgrade handed the kernel over", "from", pid, "to", next)
			pid, upgraded, started = next, true, time.Now()
			continue
		}
		if (ws.Exited() && ws.ExitStatus() == 0) || sv.stopping.Load() {
			return nil
		}
		reason := fmt.Sprintf("the kernel (pid %d) %s %s after it started", pid, describeExit(ws),
			time.Since(started).Round(time.Second))
		if upgraded {
			if err := unix.Renameat2(unix.AT_FDCWD, sv.exe+PrevSuffix, unix.AT_FDCWD, sv.exe, unix.RENAME_EXCHANGE); err != nil {
				log.Error("supervisor: cannot put the previous binary back", "path", sv.exe+PrevSuffix, "err", err)
				reason += fmt.Sprintf(" after an upgrade; the previous binary could not be put back (%v)", err)
			} else {
				reason += " after an upgrade; the previous binary is back (the new one is " + sv.exe + PrevSuffix + ")"
			}
			upgraded = false
		}
		if time.Since(started) >= stableAfter {
			backoff = minBackoff
		}
		log.Error("supervisor: "+reason+"; starting it again", "in", backoff)
		for {
			time.Sleep(backoff)
			backoff = min(2*backoff, maxBackoff)
			if sv.stopping.Load() {
				return nil
			}
			if h, ok := ReadHolder(sv.cfg.DataDir); ok {
				// Someone else started a kernel meanwhile (fazt fs
				// mount, a service manager): it is theirs to watch.
				log.Info("supervisor: another kernel serves the data directory; stopping", "pid", h.PID)
				return nil
			}
			if pid, err = sv.start(reason); err == nil {
				started = time.Now()
				break
			}
			log.Error("supervisor: the kernel did not start; trying again", "err", err, "in", backoff)
		}
	}
}

// successor waits for another process to take the lock over from pid,
// which has ended: the new kernel of an upgrade. The lock is held still if
// pid died while handing over: the new kernel holds it too and renames it
// once it has taken over, or lets go if it cannot.
func (sv *supervisor) successor(pid int) (int, bool) {
	deadline := time.Now().Add(DefaultUpgradeTimeout)
	for {
		h, ok := ReadHolder(sv.cfg.DataDir)
		if !ok {
			return 0, false
		}
		if h.PID != pid && h.PID != 0 {
			// A successor was started by the kernel that ended, so it is
			// now our child; a kernel someone else started is not.
			return h.PID, parentOf(h.PID) == os.Getpid()
		}
		if time.Now().After(deadline) {
			return 0, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start starts a kernel, telling it why if reason is set, and waits until it
// is ready; it returns the kernel's pid.
func (sv *supervisor) start(reason string) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.Command(sv.exe, append(sv.cfg.Args, "--ready-fd", fmt.Sprint(readyFD))...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w}
	cmd.Env = os.Environ()
	if reason != "" {
		cmd.Env = append(cmd.Env, restartedEnv+"="+reason)
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	// watch reaps the kernel (Wait4 of any child): only the pipe says that
	// it died before it was ready.
	exited := make(chan error, 1)
	exited <- fmt.Errorf("its log says why")
	if err := awaitReady(r, exited, 2*time.Minute); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.Wait4(pid, nil, 0, nil)
		return 0, err
	}
	return pid, nil
}

// parentOf is pid's parent process, or 0.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	var state string
	var ppid int
	fmt.Sscan(string(b[i+1:]), &state, &ppid)
	return ppid
}

func describeExit(ws syscall.WaitStatus) string {
	switch {
	case ws.Signaled():
		return "was killed by " + strings.ToUpper(unix.SignalName(ws.Signal()))
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	}
	return "ended"
}
