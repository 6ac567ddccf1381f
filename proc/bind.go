package proc

import (
	"context"
	"syscall"

	"github.com/fazt-sh/fazt/ctl"
	"github.com/fazt-sh/fazt/kernel"
)

// bind binds every part's files into the namespace: each subsystem builds
// its own part of the tree (AddFiles); a directory several parts build is
// their union (/net: routes, listeners, certificates; /storage: the
// database and its backups). proc builds /proc, and nothing else.
func (s *System) bind() error {
	k := s.Kernel
	union := func(name string, parts ...func(ctl.Dir)) *ctl.Tree {
		t := ctl.New("/"+name, k.Log)
		for _, add := range parts {
			add(t.RootDir())
		}
		return t
	}
	for _, b := range []struct {
		name string
		fs   kernel.FileSystem
	}{
		{"README", ctl.NewFile("/README", ctl.Text(readme))},
		{"driver", union("driver", s.repl.AddFiles)},
		{"fs", s.fs},
		{"net", union("net",
			func(d ctl.Dir) {
				s.routes.AddFiles(d, func(ctx context.Context, site string) bool {
					a, err := k.FS.Stat(ctx, "/fs/"+site)
					return err == nil && a.Mode&syscall.S_IFMT == syscall.S_IFDIR
				})
			},
			s.web.AddFiles, s.certs.AddFiles)},
		{"proc", s.procTree()},
		{"security", union("security", s.auth.AddFiles)},
		{"storage", union("storage",
			func(d ctl.Dir) {
				s.db.AddFiles(d, k.Events, func(ctx context.Context) error { return s.migrate(ctx, k.Log) })
			},
			func(d ctl.Dir) { s.repl.AddStorageFiles(d, k.Events) })},
	} {
		if err := k.NS.Bind(b.name, b.fs); err != nil {
			return err
		}
	}
	return nil
}
