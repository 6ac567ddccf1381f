package litestream

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Restart pacing: a child that dies is started again after a pause that
// doubles up to maxBackoff, and drops back once a child has run a minute.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
	// stopGrace is how long a stopping child may take to send what is
	// left to the replica (Litestream's ShutdownSyncTimeout is 30 s).
	stopGrace = 40 * time.Second
	// readyWait bounds how long a child may take to serve its socket
	// before it is killed and started again.
	readyWait = 2 * time.Minute
)

// supervisor runs the child for one configuration until stopped.
type supervisor struct {
	d   *Driver
	cfg config
	// lease, if set, is the lease record the child's writes are fenced
	// by (a term's child).
	lease string
	quit  chan struct{}
	done  chan struct{}
	// hard, set before quit closes, kills the child instead of letting it
	// send what is left (a deposed primary has nothing to send).
	hard atomic.Bool

	mu       sync.Mutex // guards the fields below
	pid      int
	running  bool      // the child serves its socket
	since    time.Time // when it started serving
	restarts int
	lastExit string        // why the last child ended
	ready    chan struct{} // closed when running; replaced at each start
}

func newSupervisor(d *Driver, c config) *supervisor {
	return &supervisor{d: d, cfg: c, quit: make(chan struct{}), done: make(chan struct{}), ready: make(chan struct{})}
}

func (s *supervisor) start() { go s.loop() }

func (s *supervisor) stop() {
	close(s.quit)
	<-s.done
}

func (s *supervisor) loop() {
	// Pdeathsig is delivered when the thread that forked the child ends,
	// not the process: keep this goroutine on its thread for its life.
	runtime.LockOSThread()
	defer close(s.done)
	backoff := minBackoff
	for {
		started := time.Now()
		err := s.runGuarded()
		select {
		case <-s.quit:
			return
		default:
		}
		s.mu.Lock()
		s.running, s.pid = false, 0
		s.restarts++
		s.lastExit = fmt.Sprintf("%s: %v", time.Now().UTC().Format(time.RFC3339), err)
		s.ready = make(chan struct{})
		s.mu.Unlock()
		if time.Since(started) > time.Minute {
			backoff = minBackoff
		}
		s.d.opt.Log.Warn("litestream: the child ended; starting it again", "err", err, "in", backoff)
		select {
		case <-s.quit:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// beforeRun is called as each child is about to start: tests inject faults
// here.
var beforeRun = func() {}

// runGuarded is runOnce with its panics turned into an ended child: logged
// with the stack, the child (if started) killed, and started again after
// the backoff like any child that died.
func (s *supervisor) runGuarded() (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.d.opt.Log.Error("litestream: panic in the supervisor", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			s.mu.Lock()
			pid := s.pid
			s.mu.Unlock()
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return s.runOnce()
}

// runOnce runs one child until it ends or the supervisor stops.
func (s *supervisor) runOnce() error {
	beforeRun()
	d := s.d
	cmd := exec.Command(d.opt.Exe, "driver", "litestream", "run",
		"--db", d.opt.DB.Path(), "--meta", d.meta, "--socket", d.socket,
		"--replica", s.cfg.url, "--retention", s.cfg.retention.String())
	if s.lease != "" {
		cmd.Args = append(cmd.Args, "--lease", s.lease)
	}
	cmd.Env = ChildEnv(d.opt.DataDir)
	cmd.Dir = "/" // never inside a mount
	cmd.Stdout, cmd.Stderr = d.opt.LogOutput, d.opt.LogOutput
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.pid = cmd.Process.Pid
	ready := s.ready
	s.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Ready when the socket answers; the state changes here, in the
	// goroutine that also sees the child end.
	probe, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	up := make(chan struct{})
	go func() {
		for probe.Err() == nil {
			if _, err := d.status(probe); err == nil {
				close(up)
				return
			}
			select {
			case <-probe.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	timeout := probe.Done()
	for {
		select {
		case err := <-exited:
			return exitError(err)
		case <-s.quit:
			if s.hard.Load() {
				cmd.Process.Kill()
			}
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(stopGrace):
				cmd.Process.Kill()
				<-exited
			}
			return nil
		case <-up:
			s.mu.Lock()
			s.running, s.since = true, time.Now()
			s.mu.Unlock()
			close(ready)
			d.opt.Log.Info("litestream: replicating", "pid", cmd.Process.Pid, "replica", redact(s.cfg.url))
			up, timeout = nil, nil
		case <-timeout:
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("did not serve its socket within %v", readyWait)
		}
	}
}

func exitError(err error) error {
	if err == nil {
		return errors.New("exited")
	}
	return err
}

// wait waits until the child serves, ctx ends or the supervisor stops.
func (s *supervisor) wait(ctx context.Context) bool {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	select {
	case <-ready:
		return true
	case <-ctx.Done():
	case <-s.quit:
	}
	return false
}
