package route

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// Route is one entry of the table.
type Route struct {
	Host   string
	Target string
}

// Table is the route table, stored in the database. It implements
// ctl.Collection.
type Table struct {
	db     *storage.DB
	events *kernel.Events

	// byHost is the routes in memory, for the server's lookups: replaced
	// whole after every change, read without a lock.
	byHost atomic.Pointer[map[string]string]

	// changed is called with the host of every change, after it is made
	// (OnChange); set while booting, read-only after.
	changed func(host string)
}

// NewTable returns the route table of db; changes are announced on events
// (may be nil).
func NewTable(db *storage.DB, events *kernel.Events) *Table {
	t := &Table{db: db, events: events, changed: func(string) {}}
	t.byHost.Store(&map[string]string{})
	return t
}

// Load reads the routes into memory; call it once at start.
func (t *Table) Load(ctx context.Context) error {
	routes, err := t.List(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]string, len(routes))
	for _, r := range routes {
		m[r.Host] = r.Target
	}
	t.byHost.Store(&m)
	return nil
}

// Match returns the route for a request's host (lower case, no port): the
// route of the host itself, else of the wildcard one label up
// ("*.example.com" for "a.example.com"), else the catch-all "*".
func (t *Table) Match(host string) (Route, bool) {
	m := *t.byHost.Load()
	if target, ok := m[host]; ok {
		return Route{Host: host, Target: target}, true
	}
	if _, rest, ok := strings.Cut(host, "."); ok {
		if target, ok := m["*."+rest]; ok {
			return Route{Host: "*." + rest, Target: target}, true
		}
	}
	if target, ok := m["*"]; ok {
		return Route{Host: "*", Target: target}, true
	}
	return Route{}, false
}

// Has reports whether host itself has a route.
func (t *Table) Has(host string) bool {
	_, ok := (*t.byHost.Load())[host]
	return ok
}

// OnChange adds fn to what hears of every change, with its host, after it
// is made. Call it while booting, before the table is in use.
func (t *Table) OnChange(fn func(host string)) {
	prev := t.changed
	t.changed = func(host string) { prev(host); fn(host) }
}

// remember updates the routes in memory after a change.
func (t *Table) remember(host, target string) {
	for {
		old := t.byHost.Load()
		m := make(map[string]string, len(*old)+1)
		for k, v := range *old {
			m[k] = v
		}
		if target == "" {
			delete(m, host)
		} else {
			m[host] = target
		}
		if t.byHost.CompareAndSwap(old, &m) {
			return
		}
	}
}

// ValidKey reports whether name is a valid host name: lower-case labels of
// a-z, 0-9 and '-', 1 to 63 bytes each, not starting or ending with '-', 253
// bytes in all; the first label may be "*".
func (t *Table) ValidKey(name string) error { return ValidHost(name) }

// ValidHost checks a host name (see ValidKey).
func ValidHost(h string) error {
	bad := func(why string) error {
		return kernel.E(kernel.Invalid, fmt.Sprintf("invalid host name %q: %s", h, why))
	}
	if h == "" || len(h) > 253 {
		return bad("1 to 253 bytes")
	}
	for i, label := range strings.Split(h, ".") {
		if label == "*" && i == 0 {
			continue
		}
		if label == "" || len(label) > 63 {
			return bad("each label is 1 to 63 bytes")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("a label cannot start or end with '-'")
		}
		for _, c := range label {
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			case c >= 'A' && c <= 'Z':
				return bad("host names are lower case")
			default:
				return bad(fmt.Sprintf("%q is not allowed (a-z, 0-9, '-', '.')", c))
			}
		}
	}
	return nil
}

// API is the target of the host that serves the tree to remote clients
// (not a site name: those cannot start with '@').
const API = "@api"

// SiteOf is the site a (canonical) target serves, if it serves one.
func SiteOf(target string) (string, bool) {
	if target == API || strings.ContainsRune(target, ' ') || target == "" {
		return "", false
	}
	return target, true
}

// ParseTarget checks a target and returns its canonical form.
func ParseTarget(v string) (string, error) {
	f := strings.Fields(v)
	bad := func(why string) (string, error) {
		return "", kernel.E(kernel.Invalid, fmt.Sprintf("invalid target %q: %s", v, why))
	}
	switch {
	case len(f) == 0:
		return bad("empty; want SITE, redirect URL or proxy URL")
	case len(f) == 1 && (f[0] == "redirect" || f[0] == "proxy"):
		return bad(f[0] + " needs a URL")
	case len(f) == 1 && f[0] == API:
		return API, nil
	case len(f) == 1:
		if err := ValidSite(f[0]); err != nil {
			return "", err
		}
		return f[0], nil
	case len(f) == 2 && (f[0] == "redirect" || f[0] == "proxy"):
		u, err := url.Parse(f[1])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("want an absolute http:// or https:// URL")
		}
		return f[0] + " " + u.String(), nil
	}
	return bad("want SITE, redirect URL or proxy URL")
}

// ValidSite checks a site name: a directory name under /fs of a-z, 0-9,
// '.', '_' and '-', starting with a letter or digit, at most 63 bytes.
func ValidSite(s string) error {
	ok := s != "" && len(s) <= 63
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return kernel.E(kernel.Invalid, fmt.Sprintf("invalid site name %q: a-z, 0-9, '.', '_', '-', starting with a letter or digit, at most 63 bytes", s))
	}
	return nil
}

// Keys lists the hosts that have a route.
func (t *Table) Keys(ctx context.Context) ([]string, error) {
	routes, err := t.List(ctx)
	keys := make([]string, len(routes))
	for i, r := range routes {
		keys[i] = r.Host
	}
	return keys, err
}

// List returns all routes, by host.
func (t *Table) List(ctx context.Context) ([]Route, error) {
	var out []Route
	err := t.db.View(ctx, func(tx *storage.Tx) error {
		rows, err := tx.Query(`SELECT host, target FROM routes ORDER BY host`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Route
			if err := rows.Scan(&r.Host, &r.Target); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// Get returns the target of host.
func (t *Table) Get(ctx context.Context, host string) (string, error) {
	var target string
	err := t.db.View(ctx, func(tx *storage.Tx) error {
		return tx.QueryRow(`SELECT target FROM routes WHERE host = ?`, host).Scan(&target)
	})
	if kernel.KindOf(err) == kernel.NotExist {
		return "", kernel.E(kernel.NotExist, "no route for "+host)
	}
	return target, err
}

// ModTime is when the route of host last changed (the mtime of its file in
// /net/routes, kept across restarts).
func (t *Table) ModTime(ctx context.Context, host string) (time.Time, error) {
	var ns int64
	err := t.db.View(ctx, func(tx *storage.Tx) error {
		return tx.QueryRow(`SELECT updated FROM routes WHERE host = ?`, host).Scan(&ns)
	})
	if err != nil || ns == 0 {
		return time.Time{}, err
	}
	return time.Unix(0, ns), nil
}

// Set adds or replaces the route of host.
func (t *Table) Set(ctx context.Context, host, target string) error {
	if err := ValidHost(host); err != nil {
		return err
	}
	canon, err := ParseTarget(target)
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
	// Acknowledged means committed: a kernel killed now keeps it.
	changed := true
	err = t.db.WriteCommitted(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(`INSERT INTO routes(host, target, created, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT(host) DO UPDATE SET target = excluded.target, updated = excluded.updated
			WHERE target != excluded.target`, host, canon, now, now)
		if err == nil {
			n, _ := res.RowsAffected()
			changed = n > 0
		}
		return err
	})
	if err != nil || !changed {
		return err // the same route again changes nothing, not even its time
	}
	t.remember(host, canon)
	t.announce("route", host, canon)
	return nil
}

// Remove deletes the route of host.
func (t *Table) Remove(ctx context.Context, host string) error {
	err := t.db.WriteCommitted(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(`DELETE FROM routes WHERE host = ?`, host)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return kernel.E(kernel.NotExist, "no route for "+host)
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.remember(host, "")
	t.announce("unroute", host)
	return nil
}

func (t *Table) announce(what, host string, args ...string) {
	if t.events != nil {
		t.events.Publish("net", what, append([]string{host}, args...)...)
	}
	t.changed(host)
}
