package ctl

import (
	"context"
	"strings"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// Collection is what a collection directory shows: named values kept
// elsewhere (routes in SQLite). Errors are kernel errors: NotExist for a
// missing key, Invalid for a bad key or value.
type Collection interface {
	Keys(ctx context.Context) ([]string, error)
	Get(ctx context.Context, key string) (string, error)
	Set(ctx context.Context, key, value string) error
	Remove(ctx context.Context, key string) error
	// ValidKey says whether name can name an entry; other names are
	// drafts.
	ValidKey(name string) error
}

// ModTimer is a Collection that knows when each entry last changed: its
// file's mtime and ctime, across restarts. Without it an entry's times are
// when the tree last saw its value change.
type ModTimer interface {
	ModTime(ctx context.Context, key string) (time.Time, error)
}

// CollectionDir is a collection's directory in a tree.
type CollectionDir struct {
	t *Tree
	n *node
}

// Changed tells the tree that key changed other than through its files
// (a ctl command, the API): the kernel's caches of that name are dropped.
func (c *CollectionDir) Changed(key string) {
	t := c.t
	t.mu.Lock()
	var ino uint64
	if e := c.n.entries[key]; e != nil && !e.pending {
		ino = e.ino
		delete(c.n.entries, key)
	}
	t.mu.Unlock()
	// Origin nil: whoever made the change, the kernel did not see this
	// name change.
	t.notify(kernel.Change{Op: kernel.EntryAdded, Dir: c.n.ino, Name: key})
	if ino != 0 {
		t.notify(kernel.Change{Op: kernel.ContentChanged, Ino: ino})
	}
}

// entryLocked returns the entry node for key, making it if needed. t.mu
// must be held.
func (t *Tree) entryLocked(d *node, key string) *node {
	if e := d.entries[key]; e != nil {
		return e
	}
	e := t.newNode(d, key, kEntry, syscall.S_IFREG|0o644)
	d.entries[key] = e
	return e
}

func (t *Tree) collLookup(ctx context.Context, d *node, name string) (*node, error) {
	t.mu.Lock()
	if dr := d.drafts[name]; dr != nil {
		t.mu.Unlock()
		return dr, nil
	}
	if e := d.entries[name]; e != nil && e.pending {
		t.mu.Unlock()
		return e, nil
	}
	t.mu.Unlock()
	if d.coll.ValidKey(name) != nil {
		return nil, nil
	}
	if _, err := d.coll.Get(ctx, name); err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return nil, nil
		}
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entryLocked(d, name), nil
}

func (t *Tree) collList(ctx context.Context, d *node) ([]kernel.DirEntry, error) {
	keys, err := d.coll.Keys(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]kernel.DirEntry, 0, len(keys)+len(d.drafts))
	seen := map[string]bool{}
	for _, k := range keys {
		out = append(out, kernel.DirEntry{Name: k, Ino: t.entryLocked(d, k).ino, Mode: syscall.S_IFREG})
		seen[k] = true
	}
	for name, e := range d.entries {
		if e.pending && !seen[name] {
			out = append(out, kernel.DirEntry{Name: name, Ino: e.ino, Mode: syscall.S_IFREG})
		}
	}
	for name, dr := range d.drafts {
		out = append(out, kernel.DirEntry{Name: name, Ino: dr.ino, Mode: syscall.S_IFREG})
	}
	return out, nil
}

func (t *Tree) collCreate(ctx context.Context, d *node, name string, flags int) (kernel.Attr, kernel.Handle, error) {
	excl := flags&kernel.OExcl != 0
	exists := func(n *node) (kernel.Attr, kernel.Handle, error) {
		if excl {
			return kernel.Attr{}, nil, kernel.E(kernel.Exist, "file exists")
		}
		a, err := t.attr(ctx, n)
		if err != nil {
			return kernel.Attr{}, nil, err
		}
		h, err := t.open(ctx, n, flags)
		return a, h, err
	}
	t.mu.Lock()
	if dr := d.drafts[name]; dr != nil {
		t.mu.Unlock()
		return exists(dr)
	}
	if e := d.entries[name]; e != nil && e.pending {
		t.mu.Unlock()
		return exists(e)
	}
	if err := d.coll.ValidKey(name); err != nil {
		if !temporary(name) {
			t.mu.Unlock()
			return kernel.Attr{}, nil, t.failed(d, "create", err)
		}
		// An editor's or rsync's temporary file: a draft, to be renamed
		// onto a key.
		dr := t.newNode(d, name, kDraft, syscall.S_IFREG|0o644)
		d.drafts[name] = dr
		t.mu.Unlock()
		a, _ := t.attr(ctx, dr)
		return a, &draftHandle{t: t, n: dr}, nil
	}
	t.mu.Unlock()
	_, err := d.coll.Get(ctx, name)
	switch {
	case err == nil:
		t.mu.Lock()
		e := t.entryLocked(d, name)
		t.mu.Unlock()
		return exists(e)
	case kernel.KindOf(err) != kernel.NotExist:
		return kernel.Attr{}, nil, err
	}
	// A new key: the entry shows while its writer works, and goes away if
	// the writer never gives it a valid value.
	t.mu.Lock()
	e := t.entryLocked(d, name)
	e.pending = true
	t.mu.Unlock()
	a, _ := t.attr(ctx, e)
	return a, t.entryWriter(e), nil
}

// entryWriter opens an entry for writing: its line is the entry's new value.
func (t *Tree) entryWriter(e *node) kernel.Handle {
	d := e.parent
	return &lineWriter{t: t, n: e, single: true,
		apply: func(ctx context.Context, line string) error {
			t.mu.Lock()
			key := e.name
			t.mu.Unlock()
			if err := d.coll.Set(ctx, key, line); err != nil {
				return err
			}
			t.mu.Lock()
			e.pending = false
			t.mu.Unlock()
			return nil
		},
		release: func(ctx context.Context, wrote bool) {
			t.mu.Lock()
			dropped := e.pending && d.entries[e.name] == e
			if dropped {
				delete(d.entries, e.name)
			}
			t.mu.Unlock()
			if dropped {
				// The kernel has the name from the create: take it back,
				// and say why (touch and ": >" would succeed silently).
				t.notify(kernel.Change{Op: kernel.EntryRemoved, Dir: d.ino, Name: e.name, Ino: e.ino})
				if !wrote {
					t.failed(e, "create", kernel.E(kernel.Invalid, "nothing was written, so nothing was created: an entry is made by writing its value"))
				}
			}
		},
	}
}

func (t *Tree) collRemove(ctx context.Context, d *node, name string) error {
	t.mu.Lock()
	if dr := d.drafts[name]; dr != nil {
		delete(d.drafts, name)
		t.mu.Unlock()
		return nil
	}
	if e := d.entries[name]; e != nil && e.pending {
		delete(d.entries, name)
		t.mu.Unlock()
		return nil
	}
	t.mu.Unlock()
	if d.coll.ValidKey(name) != nil {
		return kernel.E(kernel.NotExist, "no such file or directory")
	}
	if err := d.coll.Remove(ctx, name); err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return err
		}
		return t.failed(d, "remove", err)
	}
	t.mu.Lock()
	delete(d.entries, name)
	t.mu.Unlock()
	return nil
}

// temporary reports whether a name that is not a key looks like a tool's
// temporary file: rsync's ".name.XXXXXX", editors' ".name.swp", "name~",
// "#name#", "name.tmp", sed -i's "sedXXXXXX". Those become drafts; other
// names that are not keys are refused.
func temporary(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") ||
		strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".tmp") ||
		sedTemp(name)
}

// sedTemp matches the temporary file of GNU sed -i: "sed" and six letters
// or digits.
func sedTemp(name string) bool {
	if len(name) != 9 || !strings.HasPrefix(name, "sed") {
		return false
	}
	for _, c := range name[3:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// firstLine is a draft's content as a value: one line, its newline dropped.
func firstLine(b []byte) (string, error) {
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.ContainsRune(s, '\n') {
		return "", kernel.E(kernel.Invalid, "a value is one line")
	}
	return s, nil
}

// collRename moves a name within a collection. Renaming a draft onto a key
// sets that key from the draft (how editors and rsync save); renaming a key
// onto a name that is not a key turns it into a draft (an editor's backup).
// The node keeps its inode through both, as the kernel expects of a rename.
func (t *Tree) collRename(ctx context.Context, d *node, oldname, newname string) error {
	if oldname == newname {
		return nil
	}
	src, err := t.collLookup(ctx, d, oldname)
	if err != nil {
		return err
	}
	if src == nil {
		return kernel.E(kernel.NotExist, "no such file or directory")
	}
	t.mu.Lock()
	isDraft, pending, content := src.kind == kDraft, src.pending, append([]byte(nil), src.content...)
	t.mu.Unlock()
	if pending {
		return t.failed(src, "rename", kernel.E(kernel.Invalid, "the entry has no value yet"))
	}
	var value string
	if isDraft {
		if value, err = firstLine(content); err != nil && d.coll.ValidKey(newname) == nil {
			return t.failed(src, "rename", err)
		}
	} else if value, err = d.coll.Get(ctx, oldname); err != nil {
		return err
	}

	if d.coll.ValidKey(newname) == nil {
		if err := d.coll.Set(ctx, newname, value); err != nil {
			return t.failed(src, "rename", err)
		}
		if !isDraft {
			if err := d.coll.Remove(ctx, oldname); err != nil && kernel.KindOf(err) != kernel.NotExist {
				return t.failed(src, "rename", err)
			}
		}
		t.move(d, src, oldname, newname, kEntry, nil)
		return nil
	}
	// Onto a draft name.
	if !isDraft {
		if err := d.coll.Remove(ctx, oldname); err != nil {
			return t.failed(src, "rename", err)
		}
		content = []byte(value + "\n")
	}
	t.move(d, src, oldname, newname, kDraft, content)
	return nil
}

// move files node src, which was oldname, under newname as an entry or a
// draft, replacing what had that name.
func (t *Tree) move(d, src *node, oldname, newname string, k kind, content []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(d.drafts, oldname)
	delete(d.drafts, newname)
	if d.entries[oldname] == src {
		delete(d.entries, oldname)
	}
	src.kind, src.name, src.content = k, newname, content
	if k == kEntry {
		d.entries[newname] = src
	} else {
		d.drafts[newname] = src
	}
}
