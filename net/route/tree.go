package route

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/fazt-sh/fazt/ctl"
)

// Web is the front door's part of /net: where it listens, and its status.
type Web interface {
	HTTPAddr(ctx context.Context) (string, error)
	SetHTTPAddr(ctx context.Context, addr string) error
	Status() []string
}

// Tree builds the /net tree on t and web.
func Tree(t *Table, web Web, log *slog.Logger) *ctl.Tree {
	tr := ctl.New("/net", log)
	root := tr.RootDir()
	routes := root.Collection("routes", t)
	t.changed = routes.Changed
	root.Ctl("ctl", []ctl.Command{
		{Verb: "route add", Args: []string{"HOST", "TARGET"}, Variadic: true,
			Help: "route HOST to TARGET: SITE, redirect URL or proxy URL",
			Run: func(ctx context.Context, a []string) error {
				return t.Set(ctx, a[0], strings.Join(a[1:], " "))
			}},
		{Verb: "route rm", Args: []string{"HOST"}, Help: "remove the route of HOST",
			Run: func(ctx context.Context, a []string) error { return t.Remove(ctx, a[0]) }},
	})
	root.Value("http", ctl.Value{Get: web.HTTPAddr, Set: web.SetHTTPAddr})
	root.Status("status", func(ctx context.Context) ([]byte, error) {
		routes, err := t.List(ctx)
		if err != nil {
			return nil, err
		}
		lines := append([]string{fmt.Sprintf("routes %d", len(routes))}, web.Status()...)
		return []byte(strings.Join(lines, "\n") + "\n"), nil
	})
	root.Err()
	return tr
}
