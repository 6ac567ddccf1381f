package arch

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/fazt-sh/fazt"

// allowed lists, for each package, the fazt packages its non-test code may
// import. A package not listed may import anything but cmd/.
var allowed = map[string][]string{
	"kernel":            {}, // the leaf everything calls through
	"ctl":               {"kernel"},
	"storage":           {"kernel", "ctl"},
	"vfs":               {"kernel", "storage"},
	"mount":             {"kernel"},
	"api":               {"kernel"},
	"net/route":         {"kernel", "storage", "ctl"},
	"net/httpd":         {"kernel", "net/route", "ctl"}, // certificates come through an interface
	"net/certs":         {"kernel", "storage", "ctl"},
	"driver/litestream": {"kernel", "storage", "ctl", "failpoint"},
	"failpoint":         {},
	"security":          {"kernel", "storage", "api", "ctl"},
	"deploy":            {"kernel", "api", "ctl"},
}

// forbidden lists imports a package must never have.
var forbidden = map[string][]string{
	"cmd/fazt": {"storage", "vfs"}, // the CLI goes through the kernel
}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// packages maps each package directory (relative, slash-separated) to the
// fazt packages its non-test files import.
func packages(t *testing.T) map[string]map[string]bool {
	t.Helper()
	top := root(t)
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin" || d.Name() == "mnt") && p != top {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(top, filepath.Dir(p))
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if out[rel] == nil {
			out[rel] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == module || strings.HasPrefix(path, module+"/") {
				out[rel][strings.TrimPrefix(strings.TrimPrefix(path, module), "/")] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportRules(t *testing.T) {
	pkgs := packages(t)
	for _, must := range []string{"kernel", "storage", "vfs", "ctl", "mount", "api", "net/route", "net/httpd", "net/certs", "proc", "cmd/fazt"} {
		if _, ok := pkgs[must]; !ok {
			t.Errorf("package %s not found; the rules below would check nothing", must)
		}
	}
	for pkg, imports := range pkgs {
		for imp := range imports {
			if strings.HasPrefix(imp, "cmd/") {
				t.Errorf("%s imports %s: nothing imports a command", pkg, imp)
			}
			if strings.HasPrefix(imp, "internal/") && !strings.HasPrefix(pkg, "internal/") {
				t.Errorf("%s imports test helper %s", pkg, imp)
			}
			if ok, listed := allowed[pkg]; listed && !contains(ok, imp) {
				t.Errorf("%s imports %s; it may import only %v", pkg, imp, ok)
			}
			if contains(forbidden[pkg], imp) {
				t.Errorf("%s imports %s, which it must never do", pkg, imp)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Every package explains its design in a doc.go with a package comment.
func TestPackageDocs(t *testing.T) {
	top := root(t)
	fset := token.NewFileSet()
	for pkg := range packages(t) {
		p := filepath.Join(top, filepath.FromSlash(pkg), "doc.go")
		f, err := parser.ParseFile(fset, p, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Errorf("%s: no doc.go: %v", pkg, err)
			continue
		}
		if f.Doc == nil || len(strings.TrimSpace(f.Doc.Text())) < 80 {
			t.Errorf("%s/doc.go: the package comment should explain the design", pkg)
		}
	}
}
