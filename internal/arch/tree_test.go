package arch

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/proc"
)

// owners reads docs/tree.md's "Who serves what": top-level name -> the
// packages that may build it.
func owners(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "docs", "tree.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "### Who serves what")
	if !ok {
		t.Fatal(`docs/tree.md has no "### Who serves what"`)
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("^\\| `/([^/`]+)/?` \\| (.*) \\|$")
	pkg := regexp.MustCompile("(?:^|, )`([a-z/]+)`")
	out := map[string][]string{}
	for _, line := range strings.Split(table, "\n") {
		m := row.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		for _, p := range pkg.FindAllStringSubmatch(m[2], -1) {
			out[m[1]] = append(out[m[1]], module+"/"+p[1])
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/tree.md: no rows in Who serves what")
	}
	return out
}

// The code that builds each top-level path lives in the package
// docs/tree.md names for it, and proc builds nothing but /proc (and
// /README): a booted kernel's trees are asked which packages added each
// of their files.
func TestTreeOwners(t *testing.T) {
	own := owners(t)
	ctx := context.Background()
	sys, err := proc.Boot(ctx, proc.Config{DataDir: t.TempDir(), Version: "arch", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	ents, err := sys.Kernel.FS.ReadDir(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range ents {
		seen[e.Name] = true
		allowed, ok := own[e.Name]
		if !ok {
			t.Errorf("/%s is not in docs/tree.md's Who serves what", e.Name)
			continue
		}
		fsys := sys.Kernel.NS.Bound(e.Name)
		built := map[string][]string{}
		if o, ok := fsys.(interface{ Origins() map[string][]string }); ok {
			built = o.Origins()
		} else {
			typ := reflect.TypeOf(fsys)
			if typ.Kind() == reflect.Pointer {
				typ = typ.Elem()
			}
			built["/"] = []string{typ.PkgPath()}
		}
		if len(built) == 0 {
			t.Errorf("/%s: nothing says who built it", e.Name)
		}
		for p, pkgs := range built {
			for _, pkg := range pkgs {
				if !slices.Contains(allowed, pkg) {
					t.Errorf("/%s%s is built by %s; docs/tree.md says %v", e.Name, p, pkg, allowed)
				}
				if pkg == module+"/proc" && e.Name != "proc" && e.Name != "README" {
					t.Errorf("/%s%s is built by proc, which builds only /proc", e.Name, p)
				}
			}
		}
	}
	for name := range own {
		if !seen[name] {
			t.Errorf("docs/tree.md names /%s, which the kernel does not serve", name)
		}
	}
}
