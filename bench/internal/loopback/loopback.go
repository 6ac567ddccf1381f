package loopback

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/fazt-sh/fazt/api"
)

// Kernel is a fazt kernel running as a process of its own.
type Kernel struct{ cmd *exec.Cmd }

// Stop stops it as SIGINT does, and waits.
func (k Kernel) Stop() {
	k.cmd.Process.Signal(os.Interrupt)
	k.cmd.Wait()
}

// Kill kills it with SIGKILL (its Litestream child gets SIGTERM from its
// parent's death), and waits.
func (k Kernel) Kill() {
	k.cmd.Process.Kill()
	k.cmd.Wait()
}

// StartKernel runs "fazt --data data proc start extra..." with its output
// in data.log, and returns once its local API answers.
func StartKernel(bin, data string, extra ...string) (Kernel, error) {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return Kernel{}, err
	}
	cmd := exec.Command(bin, append([]string{"--data", data, "proc", "start"}, extra...)...)
	logf, err := os.Create(data + ".log")
	if err != nil {
		return Kernel{}, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "AWS_CA_BUNDLE=") // as the machine has it; the driver drops it
	if err := cmd.Start(); err != nil {
		return Kernel{}, err
	}
	c := api.Dial(filepath.Join(data, "fazt.sock"))
	for range 600 {
		if r, err := c.Open(context.Background(), "/proc/status"); err == nil {
			r.Close()
			return Kernel{cmd}, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return Kernel{}, fmt.Errorf("the kernel did not start; see %s.log", data)
}

// StartS3 runs versitygw (bin) on a free loopback port, storing buckets in
// dir (a "backups" bucket is made), with one access key; it returns the
// address once it accepts connections, and how to stop it.
func StartS3(bin, dir, key, secret string) (addr string, stop func(), err error) {
	if err := os.MkdirAll(filepath.Join(dir, "backups"), 0o755); err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", FreePort())
	cmd := exec.Command(bin, "--access", key, "--secret", secret, "--port", addr, "posix", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("versitygw did not start")
}

// FreePort is a TCP port free on loopback now.
func FreePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
