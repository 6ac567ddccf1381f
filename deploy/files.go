package deploy

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/fazt-sh/fazt/ctl"
	"github.com/fazt-sh/fazt/kernel"
)

// History is what /deploys shows: a read-only view of the sites' past
// deploys (/fs/.deploys, a vfs.View), which can list and digest its files.
type History interface {
	kernel.FileSystem
	kernel.Manifester
	kernel.Digester
}

// deploysTree is /deploys: the read-only view of the sites' past deploys
// (/fs/.deploys), with a ctl and an err file beside the sites. It is a
// union of two file systems at its root: the view's inodes as they are,
// the control tree's with ctlTag set (the view's inode numbers never get
// there).
type deploysTree struct {
	view History
	ctl  *ctl.Tree
}

const ctlTag = 1 << 47

// Files is /deploys: view (the sites' past deploys) with the ctl file of
// rollbacks and retention, which run through k's namespace.
func Files(k *kernel.Kernel, view History) kernel.FileSystem {
	t := ctl.New("/deploys", k.Log)
	root := t.RootDir()
	tree := KernelTree{FS: k.FS}
	root.Ctl("ctl", []ctl.Command{
		{Verb: "rollback", Args: []string{"SITE"}, Variadic: true, Usage: "SITE [ID]",
			Help: "rollback SITE [ID]: make a past deploy live again (the newest past one by default), in one step",
			Run: func(ctx context.Context, a []string) error {
				if len(a) > 2 {
					return kernel.E(kernel.Invalid, "usage: rollback SITE [ID]")
				}
				id := ""
				if len(a) == 2 {
					id = a[1]
				}
				got, err := Rollback(ctx, tree, a[0], id, "/deploys/ctl")
				if err == nil {
					k.Events.Publish("deploy", "rollback", a[0], got)
				}
				return err
			}},
		{Verb: "keep", Args: []string{"SITE", "N"},
			Help: "keep N past deploys of SITE (at least 1), removing the oldest beyond",
			Run: func(ctx context.Context, a []string) error {
				n, err := strconv.Atoi(a[1])
				if err != nil {
					return kernel.E(kernel.Invalid, "N is a number of deploys, not "+a[1])
				}
				return SetKeep(ctx, tree, a[0], n)
			}},
	})
	root.Err()
	return &deploysTree{view: view, ctl: t}
}

var (
	_ kernel.FileSystem = (*deploysTree)(nil)
	_ kernel.Manifester = (*deploysTree)(nil)
	_ kernel.Notifier   = (*deploysTree)(nil)
)

func isCtl(ino uint64) bool { return ino&ctlTag != 0 }

// ctlAt is the control tree's entry name at the root, if name is one.
func (d *deploysTree) ctlAt(ctx context.Context, dir uint64, name string) (kernel.Attr, bool, error) {
	if dir != d.view.Root() || (name != "ctl" && name != "err") {
		return kernel.Attr{}, false, nil
	}
	a, err := d.ctl.Lookup(ctx, d.ctl.Root(), name)
	a.Ino |= ctlTag
	return a, true, err
}

func (d *deploysTree) Root() uint64 { return d.view.Root() }

func (d *deploysTree) Getattr(ctx context.Context, ino uint64) (kernel.Attr, error) {
	if isCtl(ino) {
		a, err := d.ctl.Getattr(ctx, ino&^ctlTag)
		a.Ino |= ctlTag
		return a, err
	}
	return readOnly(d.view.Getattr(ctx, ino))
}

func (d *deploysTree) Lookup(ctx context.Context, dir uint64, name string) (kernel.Attr, error) {
	if a, ok, err := d.ctlAt(ctx, dir, name); ok {
		return a, err
	}
	return readOnly(d.view.Lookup(ctx, dir, name))
}

// readOnly shows the history's modes as what they are here: no writes.
func readOnly(a kernel.Attr, err error) (kernel.Attr, error) {
	if err == nil && a.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		a.Mode &^= 0o222
	}
	return a, err
}

func (d *deploysTree) ReadDir(ctx context.Context, dir uint64) ([]kernel.DirEntry, error) {
	ents, err := d.view.ReadDir(ctx, dir)
	if err != nil || dir != d.view.Root() {
		return ents, err
	}
	extra, err := d.ctl.ReadDir(ctx, d.ctl.Root())
	if err != nil {
		return nil, err
	}
	for _, e := range extra {
		e.Ino |= ctlTag
		ents = append(ents, e)
	}
	slices.SortFunc(ents, func(a, b kernel.DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return ents, nil
}

func (d *deploysTree) Open(ctx context.Context, ino uint64, flags int) (kernel.Handle, error) {
	if isCtl(ino) {
		return d.ctl.Open(ctx, ino&^ctlTag, flags)
	}
	return d.view.Open(ctx, ino, flags)
}

func (d *deploysTree) Readlink(ctx context.Context, ino uint64) (string, error) {
	if isCtl(ino) {
		return d.ctl.Readlink(ctx, ino&^ctlTag)
	}
	return d.view.Readlink(ctx, ino)
}

func (d *deploysTree) Statfs(ctx context.Context) (kernel.Statfs, error) { return d.view.Statfs(ctx) }

func (d *deploysTree) Manifest(ctx context.Context, dir uint64, skip []string) ([]kernel.ManifestEntry, error) {
	return d.view.Manifest(ctx, dir, skip)
}

func (d *deploysTree) Digest(ctx context.Context, ino uint64) ([]byte, error) {
	if isCtl(ino) {
		return nil, kernel.E(kernel.NotSupported, "not a stored file")
	}
	return d.view.Digest(ctx, ino)
}

func (d *deploysTree) BlockSize() int64 { return d.view.BlockSize() }

// SetNotify passes the control files' changes on (the err file's content).
func (d *deploysTree) SetNotify(fn func(kernel.Change)) {
	outer := func(ino uint64) uint64 {
		switch ino {
		case 0:
			return 0
		case d.ctl.Root(): // the control tree's root is /deploys itself
			return d.view.Root()
		}
		return ino | ctlTag
	}
	d.ctl.SetNotify(func(c kernel.Change) {
		c.Ino, c.Dir = outer(c.Ino), outer(c.Dir)
		fn(c)
	})
}
