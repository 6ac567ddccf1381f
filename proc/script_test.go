package proc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

// step is one line of testdata/ctl.script.
type step struct {
	line     int
	op       string // write, read, rm, ls
	path     string
	data     string
	contains bool   // read: data is a substring
	kind     string // the error kind expected, or ""
}

// parseScript reads a control-file script (see testdata/ctl.script).
func parseScript(r io.Reader) ([]step, error) {
	var out []step
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, rest, _ := strings.Cut(line, " ")
		path, rest, _ := strings.Cut(rest, " ")
		s := step{line: n, op: op, path: path}
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "~") {
			s.contains, rest = true, rest[1:]
		}
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			s.data, _ = strconv.Unquote(q)
			rest = strings.TrimSpace(rest[len(q):])
		}
		s.kind = rest
		out = append(out, s)
	}
	return out, sc.Err()
}

// LoadScript reads testdata/ctl.script for the tests of other packages.
func loadScript(t *testing.T) []step {
	t.Helper()
	f, err := os.Open("testdata/ctl.script")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	steps, err := parseScript(f)
	if err != nil {
		t.Fatal(err)
	}
	return steps
}

// The control files, through the kernel's calls (what the API and the CLI
// do).
func TestControlScript(t *testing.T) {
	ctx := context.Background()
	sys, err := Boot(ctx, Config{DataDir: t.TempDir(), Version: "v-test", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	fs := sys.Kernel.FS
	for _, s := range loadScript(t) {
		var err error
		var got string
		switch s.op {
		case "write":
			err = fs.WriteFile(ctx, s.path, []byte(s.data), 0o644)
		case "read":
			var b []byte
			b, err = fs.ReadFile(ctx, s.path)
			got = string(b)
		case "rm":
			err = fs.Remove(ctx, s.path)
		case "ls":
			var ents []kernel.DirEntry
			ents, err = fs.ReadDir(ctx, s.path)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name)
			}
			got = strings.Join(names, " ")
		default:
			t.Fatalf("line %d: unknown op %q", s.line, s.op)
		}
		if s.kind != "" {
			if k := kernel.KindOf(err); err == nil || k.ID() != s.kind {
				t.Errorf("line %d: %s %s: err %v, want kind %s", s.line, s.op, s.path, err, s.kind)
			}
			continue
		}
		if err != nil {
			t.Errorf("line %d: %s %s: %v", s.line, s.op, s.path, err)
			continue
		}
		if (s.op == "read" || s.op == "ls") && (s.contains && !strings.Contains(got, s.data) || !s.contains && got != s.data) {
			t.Errorf("line %d: %s %s = %q, want %s%q", s.line, s.op, s.path, got, map[bool]string{true: "~"}[s.contains], s.data)
		}
	}
}
