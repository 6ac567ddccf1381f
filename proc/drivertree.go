package proc

import (
	"context"

	"github.com/fazt-sh/fazt/ctl"
	"github.com/fazt-sh/fazt/driver/litestream"
)

// driverTree builds /driver: the drivers of outside parts; Litestream's
// replica, credentials and state.
func (s *System) driverTree() *ctl.Tree {
	t := ctl.New("/driver", s.Kernel.Log)
	ls := t.RootDir().Dir("litestream")
	ls.Collection("replicas", s.repl)
	creds := ls.Dir("credentials")
	for name := range litestream.Secrets {
		name := name
		creds.Value(name, ctl.Value{Set: func(ctx context.Context, v string) error { return s.repl.SetSecret(ctx, name, v) }})
	}
	ls.Value("retention", ctl.Value{Get: s.repl.Retention, Set: s.repl.SetRetention})
	ls.Status("status", s.repl.Status)
	ls.Err()
	return t
}
