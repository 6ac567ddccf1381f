package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Processes on in's data directory other than its supervisor: the kernel
// and its backup child.
func (in *instance) kernelProcs() []string {
	out, _ := exec.Command("pgrep", "-f", "--", in.home).Output()
	var procs []string
	for _, f := range strings.Fields(string(out)) {
		cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline")
		if !strings.Contains(string(cmdline), "--supervise") {
			procs = append(procs, f)
		}
	}
	return procs
}

// supervisors are the supervisor processes on in's data directory.
func (in *instance) supervisors() []string {
	out, _ := exec.Command("pgrep", "-f", "--", in.home+" proc start .*--supervise").Output()
	return strings.Fields(string(out))
}

// comesBack waits until a kernel other than old serves url and the mount,
// and returns its /proc/status.
func comesBack(t *testing.T, in *instance, old int, url, page string) map[string]string {
	t.Helper()
	waitUntil(t, time.Minute, func() bool {
		pid := in.pid()
		if pid == 0 || pid == old || getBody(t, url) != page {
			return false
		}
		_, err := os.ReadFile(in.path("proc/version"))
		return err == nil
	}, func() string { return "no kernel came back:\n" + in.log() })
	return procStatus(t, in)
}

// A kernel started by fazt fs mount that dies is started again on its mount
// by its supervisor, which says why.
func TestSupervisedKernelComesBack(t *testing.T) {
	in := newInstance(t)
	url, page := servedSite(t, in)
	if st := procStatus(t, in); st["restarted"] != "-" {
		t.Fatalf("restarted = %q before any death", st["restarted"])
	}
	for round := range 2 {
		old := in.pid()
		syscall.Kill(old, syscall.SIGKILL)
		st := comesBack(t, in, old, url, page)
		if !strings.Contains(st["restarted"], "pid "+strconv.Itoa(old)+") was killed by SIGKILL") {
			t.Fatalf("round %d: restarted = %q", round, st["restarted"])
		}
		if err := os.WriteFile(in.path("fs/up/after"+strconv.Itoa(round)), []byte("x"), 0o644); err != nil {
			t.Fatalf("round %d: the mount is not writable again: %v", round, err)
		}
	}
	if !strings.Contains(in.log(), "supervisor: the kernel") {
		t.Fatalf("the supervisor logged nothing:\n%s", in.log())
	}
	// Unmounting stops the kernel and its supervisor: nothing is left.
	if out, err := in.fazt("fs", "umount", in.mnt); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	waitUntil(t, time.Minute, func() bool { return len(in.supervisors()) == 0 && len(in.kernelProcs()) == 0 },
		func() string {
			return "left after umount: supervisors " + strings.Join(in.supervisors(), " ") + ", others " + strings.Join(in.kernelProcs(), " ")
		})
}

// An upgraded kernel that dies after it took over: the supervisor puts the
// previous binary back and starts it.
func TestUpgradedKernelDiesAfterReady(t *testing.T) {
	next := faztNext(t)
	bin := installedCopy(t, faztBin)
	in := newInstanceOf(t, bin)
	url, page := servedSite(t, in)
	oldSum, _ := fileSum(bin)
	nextSum, _ := fileSum(next)
	if out, err := in.fazt("proc", "upgrade", "--from", next); err != nil {
		t.Fatalf("upgrade: %v %s", err, out)
	}
	st := procStatus(t, in)
	if st["version"] != "e2e-next" {
		t.Fatalf("version after the upgrade: %q", st["version"])
	}
	newPID, _ := strconv.Atoi(st["pid"])
	syscall.Kill(newPID, syscall.SIGKILL)
	st = comesBack(t, in, newPID, url, page)
	if st["version"] != "e2e" {
		t.Fatalf("after the upgraded kernel died: version %q, want the previous one", st["version"])
	}
	if !strings.Contains(st["restarted"], "after an upgrade; the previous binary is back") {
		t.Fatalf("restarted = %q", st["restarted"])
	}
	// The binaries swapped places: the failed one is kept as fazt.prev.
	if cur, _ := fileSum(bin); cur != oldSum {
		t.Fatal("the binary in place is not the previous one")
	}
	if prev, _ := fileSum(bin + ".prev"); prev != nextSum {
		t.Fatal("fazt.prev is not the binary that died")
	}
	if err := os.WriteFile(in.path("fs/up/after"), []byte("x"), 0o644); err != nil {
		t.Fatalf("the mount is not writable again: %v", err)
	}
	if n := len(in.supervisors()); n != 1 {
		t.Fatalf("%d supervisors", n)
	}
}
