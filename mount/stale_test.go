package mount

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fazt-sh/fazt/internal/fusetest"
)

// hungRoot is a FUSE server that never answers statfs, as a stopped or
// dead-but-held predecessor does.
type hungRoot struct {
	fs.Inode
	release chan struct{}
}

func (r *hungRoot) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	<-r.release
	return syscall.EIO
}

var _ fs.NodeStatfser = (*hungRoot)(nil)

// CleanStale gives up on a mount point that does not answer, detaches it,
// and returns: a new kernel never hangs on its predecessor's mount.
func TestCleanStaleDoesNotHang(t *testing.T) {
	fusetest.Require(t)
	if os.Geteuid() != 0 {
		t.Skip("aborting a FUSE connection needs root") // fusetest fails under CI, which runs as root
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(dir, 0o755)
	root := &hungRoot{release: make(chan struct{})}
	server, err := fs.Mount(dir, root, &fs.Options{MountOptions: fuse.MountOptions{DirectMount: true, FsName: "hung"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(root.release)
		syscall.Unmount(dir, syscall.MNT_DETACH)
		server.Unmount()
	}()
	old := staleWait
	staleWait = time.Second
	defer func() { staleWait = old }()
	done := make(chan error, 1)
	go func() { done <- CleanStale(dir) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("CleanStale hung on a mount that does not answer")
	}
	if mounted, _ := IsMountPoint(dir); mounted {
		t.Fatal("the hung mount is still there")
	}
}
