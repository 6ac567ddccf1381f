package route

import (
	"context"
	"fmt"
	"strings"

	"github.com/fazt-sh/fazt/ctl"
)

// AddFiles adds the table's files to d (/net): routes/, one value file a
// host; the route verbs of ctl; the route count in status, and the routes
// whose site does not exist (site says whether one does: a route to a site
// not deployed yet is accepted, and flagged).
func (t *Table) AddFiles(d ctl.Dir, site func(ctx context.Context, name string) bool) {
	routes := d.Collection("routes", t)
	t.OnChange(routes.Changed)
	d.Ctl("ctl", []ctl.Command{
		{Verb: "route add", Args: []string{"HOST", "TARGET"}, Variadic: true,
			Help: "route HOST to TARGET: SITE, redirect URL or proxy URL",
			Run: func(ctx context.Context, a []string) error {
				return t.Set(ctx, a[0], strings.Join(a[1:], " "))
			},
			Check: func(a []string) error {
				if err := ValidHost(a[0]); err != nil {
					return err
				}
				_, err := ParseTarget(strings.Join(a[1:], " "))
				return err
			}},
		{Verb: "route rm", Args: []string{"HOST"}, Help: "remove the route of HOST",
			Run:   func(ctx context.Context, a []string) error { return t.Remove(ctx, a[0]) },
			Check: func(a []string) error { return ValidHost(a[0]) }},
	})
	d.Status("status", func(ctx context.Context) ([]byte, error) {
		routes, err := t.List(ctx)
		if err != nil {
			return nil, err
		}
		var missing []string
		for _, r := range routes {
			if s, ok := SiteOf(r.Target); ok && !site(ctx, s) {
				missing = append(missing, r.Host+":"+s)
			}
		}
		if len(missing) == 0 {
			missing = []string{"-"}
		}
		return []byte(fmt.Sprintf("routes %d\nroutes_missing_site %s\n", len(routes), strings.Join(missing, " "))), nil
	})
	d.Err()
}
