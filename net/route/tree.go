package route

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/fazt-sh/fazt/ctl"
)

// Tree builds the /net tree on t.
func Tree(t *Table, log *slog.Logger) *ctl.Tree {
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
	root.Status("status", func(ctx context.Context) ([]byte, error) {
		routes, err := t.List(ctx)
		if err != nil {
			return nil, err
		}
		return []byte(fmt.Sprintf("routes %d\n", len(routes))), nil
	})
	root.Err()
	return tr
}
