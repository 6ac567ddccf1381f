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

// boot starts a kernel on a data directory of the test's, stopped at its
// end: what it serves is what the checks below read.
func boot(t *testing.T) *proc.System {
	t.Helper()
	sys, err := proc.Boot(context.Background(), proc.Config{DataDir: t.TempDir(), Version: "arch", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	return sys
}

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
	sys := boot(t)
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

// Every ctl file's commands, as its help lists them, are the commands
// docs/tree.md documents for it, no more and no fewer.
func TestCtlHelpMatchesDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root(t), "docs", "tree.md"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sys := boot(t)
	tops, err := sys.Kernel.FS.ReadDir(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	verbWord := regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	verbOf := func(use string) string {
		var words []string
		for _, w := range strings.Fields(use) {
			if !verbWord.MatchString(w) {
				break
			}
			words = append(words, w)
		}
		return strings.Join(words, " ")
	}
	checked := 0
	for _, top := range tops {
		p := "/" + top.Name + "/ctl"
		help, err := sys.Kernel.FS.ReadFile(ctx, p)
		if err != nil {
			continue // no ctl file here
		}
		checked++
		var fromHelp []string
		for _, line := range strings.Split(strings.TrimSpace(string(help)), "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			use := line // "USE<padding to 32> HELP", or "USE HELP" past 32
			if len(line) > 32 && line[31] == ' ' {
				use = line[:32]
			} else if i := strings.IndexByte(line[min(32, len(line)):], ' '); i >= 0 {
				use = line[:min(32, len(line))+i]
			}
			fromHelp = append(fromHelp, verbOf(use))
		}
		_, section, ok := strings.Cut(string(doc), "### `"+p+"` (ctl")
		if !ok {
			t.Errorf("docs/tree.md has no section for %s", p)
			continue
		}
		section, _, _ = strings.Cut(section, "\n### ")
		var fromDocs []string
		cell := regexp.MustCompile("`([^`]+)`")
		for _, line := range strings.Split(section, "\n") {
			first, _, ok := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
			if !strings.HasPrefix(line, "| `") || !ok {
				continue
			}
			for _, m := range cell.FindAllStringSubmatch(first, -1) {
				fromDocs = append(fromDocs, verbOf(m[1]))
			}
		}
		slices.Sort(fromHelp)
		slices.Sort(fromDocs)
		if !slices.Equal(fromHelp, fromDocs) {
			t.Errorf("%s: its help lists %q, docs/tree.md %q", p, fromHelp, fromDocs)
		}
	}
	if checked < 4 {
		t.Fatalf("only %d ctl files found", checked)
	}
}
