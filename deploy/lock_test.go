package deploy_test

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/deploy"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/proc"
)

// fullTree is a tree whose disk fills when the lock's owner is written.
type fullTree struct{ deploy.KernelTree }

func (t fullTree) Create(ctx context.Context, p string, perm fs.FileMode) (io.WriteCloser, error) {
	if strings.HasSuffix(p, "/.lock/owner") {
		return nil, kernel.E(kernel.NoSpace, "no space left on device")
	}
	return t.KernelTree.Create(ctx, p, perm)
}

// A lock that could not be taken whole is not left behind to hold off
// every deploy until it goes stale.
func TestHalfTakenLockIsRemoved(t *testing.T) {
	ctx := context.Background()
	sys, err := proc.Boot(ctx, proc.Config{DataDir: t.TempDir(), Version: "v-deploy", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if err := sys.Kernel.FS.MkdirAll(ctx, "/fs/blog", 0o755); err != nil {
		t.Fatal(err)
	}
	full := fullTree{deploy.KernelTree{FS: sys.Kernel.FS}}
	if _, err := deploy.Rollback(ctx, full, "blog", "", "test"); kernel.KindOf(err) != kernel.NoSpace {
		t.Fatalf("rollback on a full disk: %v", err)
	}
	if _, err := sys.Kernel.FS.Lstat(ctx, "/fs/.deploys/blog/.lock"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("the half-taken lock stayed: %v", err)
	}
	// And the next one works.
	if _, err := deploy.Rollback(ctx, deploy.KernelTree{FS: sys.Kernel.FS}, "blog", "", "test"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("rollback after: %v (want: no past deploy)", err)
	}
}
