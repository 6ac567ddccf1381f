package proc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/fazt-sh/fazt/kernel"
)

// UpgradeRequest says which binary to upgrade to.
type UpgradeRequest struct {
	// From is the new binary (an absolute path on this machine).
	From string
	// SHA256, if set, must be the new binary's digest (hex).
	SHA256 string
	// Timeout bounds how long the new kernel may take to be ready; zero
	// means DefaultUpgradeTimeout.
	Timeout time.Duration
}

// DefaultUpgradeTimeout is how long a new kernel may take to boot (and
// migrate) before the upgrade is rolled back.
const DefaultUpgradeTimeout = time.Minute

// PrevSuffix names the previous binary, kept next to the running one.
const PrevSuffix = ".prev"

// Upgrade replaces the running binary with req.From and hands the kernel
// over to it: the new binary is checked (it runs and reports a fazt version
// for this platform, and matches the digest if one is given), the old one
// is kept as fazt.prev, the new one renamed into place, and started with
// the listening sockets and the data directory's lock. Once it reports
// ready, this kernel stops (Run returns) and lets go of the rest; the new
// one then serves. If it does not become ready within the timeout, it is
// killed, the old binary is put back, this kernel serves on, and
// /proc/status says why.
func (s *System) Upgrade(ctx context.Context, req UpgradeRequest) (err error) {
	if !s.serving.Load() {
		return kernel.E(kernel.Unavailable, "no kernel is serving here to hand over: replace the binary and start it")
	}
	s.umu.Lock()
	if s.upgrade.running {
		s.umu.Unlock()
		return kernel.E(kernel.Busy, "an upgrade is already in progress")
	}
	if s.successor != nil {
		s.umu.Unlock()
		return kernel.E(kernel.Busy, "already upgraded: this kernel is handing over")
	}
	s.upgrade.running = true
	s.umu.Unlock()
	version := ""
	defer func() {
		s.umu.Lock()
		defer s.umu.Unlock()
		s.upgrade.running = false
		s.upgrade.at = time.Now()
		s.upgrade.to = version
		s.upgrade.err = ""
		if err != nil {
			s.upgrade.err = strings.ReplaceAll(err.Error(), "\n", " ")
			s.Kernel.Log.Error("upgrade failed; this kernel serves on", "from", req.From, "err", err)
		}
	}()
	if req.Timeout <= 0 {
		req.Timeout = DefaultUpgradeTimeout
	}
	ctx = context.WithoutCancel(ctx) // half an upgrade is worse than a slow one
	if version, err = checkBinary(ctx, req.From, req.SHA256); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return kernel.Wrap(kernel.Internal, err)
	}
	undo, keep, err := installBinary(exe, req.From)
	if err != nil {
		return err
	}
	s.Kernel.Log.Info("upgrade: starting the new binary", "version", version, "path", exe, "previous", exe+PrevSuffix)
	goW, err := s.startSuccessor(exe, version, req.Timeout)
	if err != nil {
		if uerr := undo(); uerr != nil {
			s.Kernel.Log.Error("upgrade: cannot put the old binary back", "path", exe, "err", uerr)
			err = fmt.Errorf("%w; and the old binary could not be put back (%v): it is at %s", err, uerr, exe+PrevSuffix)
		}
		return kernel.Wrap(kernel.Unavailable, fmt.Errorf("the new binary (%s) did not take over: %w; the old binary is back and serving", version, err))
	}
	if err := keep(); err != nil {
		s.Kernel.Log.Warn("upgrade: cannot remove the binary before the previous one", "err", err)
	}
	s.umu.Lock()
	s.successor = goW
	s.umu.Unlock()
	s.Stop()
	return nil
}

// startSuccessor starts exe as the next kernel and waits until it reports
// ready; it returns the pipe whose closing tells it to go on.
func (s *System) startSuccessor(exe, version string, timeout time.Duration) (*os.File, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	defer readyW.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer goR.Close()
	socks, err := s.web.DupListeners()
	if err != nil {
		goW.Close()
		return nil, fmt.Errorf("listening sockets: %w", err)
	}
	defer func() {
		for _, fd := range socks {
			syscall.Close(int(fd))
		}
	}()
	null, err := os.Open(os.DevNull)
	if err != nil {
		goW.Close()
		return nil, err
	}
	defer null.Close()
	// Bare descriptors (see httpd.DupListeners): 0-2, then 3, 4, ...
	fds := []uintptr{null.Fd(), os.Stdout.Fd(), os.Stderr.Fd(), readyW.Fd(), goR.Fd(), s.lock.file().Fd()}
	spec := handoffSpec{FDs: map[string]int{"ready": 3, "go": 4, "lock": 5}, FromVersion: s.Kernel.Version, FromPID: os.Getpid()}
	for name, fd := range socks {
		spec.FDs[name] = len(fds)
		fds = append(fds, fd)
	}
	s.mu.Lock()
	for _, m := range s.mounts {
		spec.Mounts = append(spec.Mounts, mountSpec{Dir: m.Dir(), Options: m.Options()})
	}
	s.mu.Unlock()
	env, _ := json.Marshal(spec)
	argv := []string{exe, "--data", s.DataDir, "proc", "start"}
	if s.exitOnUnmount {
		argv = append(argv, "--exit-on-umount")
	}
	pid, err := syscall.ForkExec(exe, argv, &syscall.ProcAttr{
		Dir:   "/",
		Env:   append(os.Environ(), handoffEnv+"="+string(env)),
		Files: fds,
	})
	if err != nil {
		goW.Close()
		return nil, err
	}
	readyW.Close() // the child's now: EOF on readyR when it dies
	p, err := os.FindProcess(pid)
	if err != nil {
		goW.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() {
		st, err := p.Wait()
		if err == nil && !st.Success() {
			err = errors.New(st.String())
		}
		exited <- err
		close(exited) // awaitReady may have taken the value already
	}()
	if err := awaitReady(readyR, exited, timeout); err != nil {
		p.Kill()
		goW.Close()
		<-exited
		return nil, err
	}
	s.Kernel.Log.Info("upgrade: the new kernel is ready; handing over", "pid", pid, "version", version)
	// Under systemd (Type=notify, NotifyAccess=all) the new process becomes
	// the service's main one, so this one's exit does not stop the service.
	daemon.SdNotify(false, fmt.Sprintf("MAINPID=%d", pid))
	return goW, nil
}

// awaitReady waits for a starting kernel's report on r: nil for "ok", else
// the error it reported, or that it exited or took longer than timeout.
func awaitReady(r io.Reader, exited <-chan error, timeout time.Duration) error {
	line := make(chan string, 1)
	go func() {
		// One line, not to EOF: a child the kernel started may hold a
		// copy of the pipe.
		s, _ := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		switch {
		case s == "ok":
			return nil
		case strings.HasPrefix(s, "error: "):
			return errors.New(strings.TrimPrefix(s, "error: "))
		}
		// The pipe closed without a word: the process died.
		return fmt.Errorf("it exited at start (%v)", <-exited)
	case <-time.After(timeout):
		return fmt.Errorf("it was not ready within %v", timeout)
	}
}

// checkBinary checks that path is a fazt binary for this platform (and has
// the digest sum, if given) and returns its version.
func checkBinary(ctx context.Context, path, sum string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", kernel.E(kernel.Invalid, "the new binary must be given by an absolute path: "+path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", kernel.Wrap(kernel.KindOf(err), fmt.Errorf("the new binary: %w", err))
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return "", kernel.E(kernel.Invalid, path+" is not an executable file")
	}
	if sum != "" {
		f, err := os.Open(path)
		if err != nil {
			return "", kernel.Wrap(kernel.KindOf(err), err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", kernel.Wrap(kernel.KindOf(err), err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, sum) {
			return "", kernel.E(kernel.Invalid, fmt.Sprintf("%s has sha256 %s, not %s", path, got, sum))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", kernel.E(kernel.Invalid, fmt.Sprintf("%s does not run (%v): %s", path, err, firstLine(out.String())))
	}
	// "fazt VERSION GOVERSION OS/ARCH"
	f := strings.Fields(firstLine(out.String()))
	if len(f) != 4 || f[0] != "fazt" {
		return "", kernel.E(kernel.Invalid, fmt.Sprintf("%s is not fazt: its version says %q", path, firstLine(out.String())))
	}
	if platform := runtime.GOOS + "/" + runtime.GOARCH; f[3] != platform {
		return "", kernel.E(kernel.Invalid, fmt.Sprintf("%s is built for %s, this machine runs %s", path, f[3], platform))
	}
	return f[1], nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// installBinary puts a copy of from in exe's place, keeping exe as
// exe.prev, and returns how to undo it (exe and exe.prev as they were) and
// how to settle it once the new binary has taken over. The previous
// exe.prev waits beside them until then, so that a failed upgrade takes
// nothing away: rollback still has its binary. from is opened first, so it
// may be exe.prev itself (a rollback).
func installBinary(exe, from string) (undo, keep func() error, err error) {
	src, err := os.Open(from)
	if err != nil {
		return nil, nil, kernel.Wrap(kernel.KindOf(err), err)
	}
	defer src.Close()
	prev := exe + PrevSuffix
	aside := prev + ".aside"
	os.Remove(aside) // left by an upgrade that died halfway: exe.prev is there
	hadPrev := true
	if err := os.Rename(prev, aside); errors.Is(err, os.ErrNotExist) {
		hadPrev = false
	} else if err != nil {
		return nil, nil, kernel.Wrap(kernel.KindOf(err), err)
	}
	restorePrev := func() error {
		if !hadPrev {
			return nil
		}
		return os.Rename(aside, prev)
	}
	if err := os.Link(exe, prev); err != nil {
		restorePrev()
		return nil, nil, kernel.Wrap(kernel.KindOf(err), fmt.Errorf("keep the old binary: %w", err))
	}
	if err := WriteFileAtomic(exe, src, 0o755); err != nil {
		os.Remove(prev) // a second name of exe, which is unchanged
		restorePrev()
		return nil, nil, kernel.Wrap(kernel.KindOf(err), fmt.Errorf("put the new binary in place: %w", err))
	}
	undo = func() error {
		if err := os.Rename(prev, exe); err != nil {
			return err
		}
		err := restorePrev()
		syncDir(filepath.Dir(exe))
		return err
	}
	keep = func() error {
		if !hadPrev {
			return nil
		}
		return os.Remove(aside)
	}
	return undo, keep, nil
}

// WriteFileAtomic writes r to path through a synced temporary file in the
// same directory renamed into place: path always holds either its old
// content or all of the new (a binary being replaced, a unit file).
func WriteFileAtomic(path string, r io.Reader, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // gone by the rename on success
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// upgradeStatus is the /proc/status lines about upgrades.
func (s *System) upgradeStatus(kv func(string, any)) {
	s.umu.Lock()
	defer s.umu.Unlock()
	from := "-"
	if s.handoff != nil {
		from = s.handoff.From()
	}
	kv("upgraded_from", from)
	state := "-"
	switch {
	case s.upgrade.running:
		state = "running"
	case s.successor != nil:
		state = "handing_over"
	case s.upgrade.err != "":
		state = "failed"
	case !s.upgrade.at.IsZero():
		state = "ok"
	}
	kv("upgrade", state)
	at := "-"
	if !s.upgrade.at.IsZero() {
		at = s.upgrade.at.UTC().Format(time.RFC3339)
	}
	kv("upgrade_at", at)
	kv("upgrade_error", orDash(s.upgrade.err))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
