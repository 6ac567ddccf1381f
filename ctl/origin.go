package ctl

import (
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// Every file of a tree remembers which packages added it, so that a test
// can hold the layout to docs/tree.md: the code serving a path lives in the
// package that owns it (internal/arch).

var ctlPackage = reflect.TypeOf(Tree{}).PkgPath()

// origin is the package of the code outside ctl that is building the tree.
func origin() string {
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if pkg := funcPackage(f.Function); pkg != ctlPackage {
			return pkg
		}
		if !more {
			return ""
		}
	}
}

// funcPackage is the package path of a function's full name
// ("example.com/a/b.(*T).M.func1" is in "example.com/a/b").
func funcPackage(name string) string {
	slash := strings.LastIndexByte(name, '/') + 1
	if dot := strings.IndexByte(name[slash:], '.'); dot >= 0 {
		return name[:slash+dot]
	}
	return name
}

// addOrigin records that the code building the tree now added n, or
// added to it.
func (n *node) addOrigin() {
	if o := origin(); !slices.Contains(n.origins, o) {
		n.origins = append(n.origins, o)
	}
}

// Origins lists, for each file and directory the tree was built with (by
// path below its root; "/" for NewFile's file), the packages that added
// it. The root directory made by New is everyone's and left out.
func (t *Tree) Origins() map[string][]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string][]string{}
	for _, n := range t.nodes {
		if len(n.origins) == 0 {
			continue
		}
		var parts []string
		for m := n; m.parent != nil; m = m.parent {
			parts = append(parts, m.name)
		}
		slices.Reverse(parts)
		out["/"+strings.Join(parts, "/")] = n.origins
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}
