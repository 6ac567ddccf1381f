package ctl

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// Render produces a file's current content.
type Render func(ctx context.Context) ([]byte, error)

// Text is a Render of fixed text.
func Text(s string) Render {
	return func(context.Context) ([]byte, error) { return []byte(s), nil }
}

// Value is a value file's behaviour. Set is nil for a value that cannot be
// written; it receives the value without its trailing newline. Get is nil
// for a secret: the file is write-only (0200) and never reads back.
type Value struct {
	Get func(ctx context.Context) (string, error)
	Set func(ctx context.Context, v string) error
	// Changed, if set, is when the value last changed as its owner keeps
	// it (a stored setting's time): the file's mtime and ctime, across
	// restarts. Without it, or while it is zero, they are when the tree
	// last saw the value change.
	Changed func(ctx context.Context) (time.Time, error)
}

// Command is one verb of a ctl file. Verb may be several words ("route
// add"); Args names the arguments for the help, and their number is exact
// unless Variadic.
type Command struct {
	Verb     string
	Args     []string
	Variadic bool
	// Usage, if set, is how the help shows the arguments ("SITE [ID]")
	// instead of Args.
	Usage string
	Help  string
	Run   func(ctx context.Context, args []string) error
	// Check, if set, validates args without changing anything: the lines
	// of a write are all checked before the first is run.
	Check func(args []string) error
}

// maxInput caps what one open of a control file accepts.
const maxInput = 64 << 10

type kind uint8

const (
	kDir    kind = iota // static directory
	kColl               // collection directory
	kStatus             // rendered, read-only
	kValue              // value file
	kCtl                // command file
	kErr                // err file
	kEvents             // blocking event stream
	kLog                // kernel log
	kEntry              // a collection's entry (a value kept by the collection)
	kDraft              // a collection's draft (a name that is not a key)
	kEach               // a directory per key (Each)
	kCall               // a call file: write a request, read its answer on the same open
)

// Tree is a synthetic file tree, served as a kernel.FileSystem and
// kernel.Writer. Static parts are built before binding; collections change
// as the things they show change.
type Tree struct {
	name    string // where it is bound ("/net"), for messages
	log     *slog.Logger
	created time.Time
	uid     uint32
	gid     uint32
	notify  func(kernel.Change)

	mu    sync.Mutex // guards nodes, next, and the dynamic parts of nodes
	nodes map[uint64]*node
	next  uint64
}

type node struct {
	ino    uint64
	name   string
	kind   kind
	mode   uint32
	parent *node

	children map[string]*node // kDir

	coll    Collection       // kColl
	entries map[string]*node // kColl, kEach: key -> entry node; guarded by Tree.mu
	drafts  map[string]*node // kColl: name -> draft node; guarded by Tree.mu

	keys  func(ctx context.Context) ([]string, error) // kEach
	files map[string]KeyRender                        // kEach: the files of each key's directory

	render Render         // kStatus
	value  Value          // kValue
	cmds   []Command      // kCtl
	call   Call           // kCall
	events *kernel.Events // kEvents
	hidden bool           // found by name, never listed (a walking tool does not reach it)
	logbuf *LogBuffer     // kLog
	errs   *errState      // a directory that owns an err file

	origins []string // the packages that added the node (origin.go)

	seen    [32]byte  // the digest of the content last rendered; guarded by Tree.mu
	changed time.Time // when that content was first seen; guarded by Tree.mu

	content []byte // kDraft; guarded by Tree.mu
	pending bool   // kEntry created by a write, waiting for its first value; guarded by Tree.mu
}

var (
	_ kernel.FileSystem = (*Tree)(nil)
	_ kernel.Writer     = (*Tree)(nil)
	_ kernel.Notifier   = (*Tree)(nil)
)

// New returns a tree to be bound at name ("/net"), logging failed writes to
// log.
func New(name string, log *slog.Logger) *Tree {
	t := newTree(name, log)
	t.newNode(nil, "", kDir, syscall.S_IFDIR|0o555).children = map[string]*node{}
	return t
}

func newTree(name string, log *slog.Logger) *Tree {
	if log == nil {
		log = slog.Default()
	}
	return &Tree{name: name, log: log, created: time.Now(), uid: uint32(os.Getuid()), gid: uint32(os.Getgid()),
		nodes: map[uint64]*node{}, notify: func(kernel.Change) {}}
}

// newNode allocates a node; callers hold t.mu once the tree is bound.
func (t *Tree) newNode(parent *node, name string, k kind, mode uint32) *node {
	t.next++
	n := &node{ino: t.next, name: name, kind: k, mode: mode, parent: parent}
	t.nodes[n.ino] = n
	return n
}

// SetNotify implements kernel.Notifier.
func (t *Tree) SetNotify(fn func(kernel.Change)) { t.notify = fn }

// Dir is a static directory of the tree, for building.
type Dir struct {
	t *Tree
	n *node
}

// RootDir returns the root directory.
func (t *Tree) RootDir() Dir { return Dir{t: t, n: t.nodes[1]} }

func (d Dir) add(name string, k kind, mode uint32) *node {
	if err := kernel.ValidName(name); err != nil {
		panic(fmt.Sprintf("ctl: %v", err))
	}
	if _, dup := d.n.children[name]; dup {
		panic(fmt.Sprintf("ctl: %q added twice", name))
	}
	n := d.t.newNode(d.n, name, k, mode)
	d.n.children[name] = n
	n.addOrigin()
	return n
}

// A directory may be built by several packages, each adding its own files
// (Plan 9's bind -a: /net is the union of the routes', the listeners' and
// the certificates' files). Where they meet, the union is made here: a
// subdirectory added twice is one directory, a status file's renders are
// concatenated in the order added, a ctl file's commands are joined, and
// err is one file. Any other name added twice is a bug.

// existing returns d's child name if it is of kind k, nil if there is none,
// and panics if it is of another kind.
func (d Dir) existing(name string, k kind) *node {
	n, ok := d.n.children[name]
	if !ok {
		return nil
	}
	if n.kind != k {
		panic(fmt.Sprintf("ctl: %q added twice, as different kinds of file", name))
	}
	n.addOrigin()
	return n
}

// Dir adds a subdirectory, or returns the one of that name.
func (d Dir) Dir(name string) Dir {
	if n := d.existing(name, kDir); n != nil {
		return Dir{t: d.t, n: n}
	}
	n := d.add(name, kDir, syscall.S_IFDIR|0o555)
	n.children = map[string]*node{}
	return Dir{t: d.t, n: n}
}

// Status adds a read-only file rendered by r (0444): "key value" lines. A
// status file added again shows both renders, one after the other.
func (d Dir) Status(name string, r Render) {
	n := d.existing(name, kStatus)
	if n == nil {
		d.add(name, kStatus, syscall.S_IFREG|0o444).render = r
		return
	}
	first := n.render
	n.render = func(ctx context.Context) ([]byte, error) {
		a, err := first(ctx)
		if err != nil {
			return nil, err
		}
		b, err := r(ctx)
		return append(a, b...), err
	}
}

// Value adds a value file: 0644, 0444 without Set, 0200 without Get.
func (d Dir) Value(name string, v Value) {
	mode := uint32(0o644)
	switch {
	case v.Set == nil:
		mode = 0o444
	case v.Get == nil:
		mode = 0o200
	}
	d.add(name, kValue, syscall.S_IFREG|mode).value = v
}

// Ctl adds a command file (0644): each line written runs a command; a read
// prints the commands and their help. A ctl file added again takes the new
// commands too; a verb may be added once.
func (d Dir) Ctl(name string, cmds []Command) {
	n := d.existing(name, kCtl)
	if n == nil {
		n = d.add(name, kCtl, syscall.S_IFREG|0o644)
	}
	for _, c := range cmds {
		for _, old := range n.cmds {
			if old.Verb == c.Verb {
				panic(fmt.Sprintf("ctl: verb %q added twice to %s", c.Verb, name))
			}
		}
	}
	n.cmds = append(n.cmds, cmds...)
}

// Call is a call file's behaviour: Run answers one request line; Help is
// what a read of a fresh open returns.
type Call struct {
	Help string
	Run  func(ctx context.Context, line string) (string, error)
}

// Call adds a call file (0600): open it for reading and writing, write a
// request line, and read the answer from the same open, from where the
// write ended (Plan 9's clone files). The answer, a secret perhaps, exists
// only in that open.
func (d Dir) Call(name string, c Call) { d.add(name, kCall, syscall.S_IFREG|0o600).call = c }

// Err adds this directory's err file (0444), which holds the reason for the
// last failed write anywhere below this directory.
func (d Dir) Err() {
	if d.existing("err", kErr) != nil {
		return
	}
	d.n.errs = &errState{}
	d.add("err", kErr, syscall.S_IFREG|0o444)
}

// Events adds the files of an event stream. name is its recent lines (a
// log file: it ends, it grows, tail -f follows it); name+".stream" is the
// push channel: its reads block until ev has new lines. A tool that walks
// the tree must not hang on it (grep -r, tar, cp -r, rsync -a read every
// file they meet), so the stream is found by name but never listed, as
// Linux's /proc/<tid> is.
func (d Dir) Events(name string, ev *kernel.Events) {
	lb := NewLogBuffer(256 << 10)
	ev.SetHistory(lb)
	d.Log(name, lb)
	s := d.add(name+StreamSuffix, kEvents, syscall.S_IFREG|0o444)
	s.events, s.hidden = ev, true
}

// StreamSuffix names an events file's push channel.
const StreamSuffix = ".stream"

// Log adds a file showing lb (0444).
func (d Dir) Log(name string, lb *LogBuffer) { d.add(name, kLog, syscall.S_IFREG|0o444).logbuf = lb }

// Collection adds a directory showing c's entries as value files (0755: new
// names can be created in it).
func (d Dir) Collection(name string, c Collection) *CollectionDir {
	n := d.add(name, kColl, syscall.S_IFDIR|0o755)
	n.coll, n.entries, n.drafts = c, map[string]*node{}, map[string]*node{}
	return &CollectionDir{t: d.t, n: n}
}

// path is n's path in the namespace.
func (t *Tree) path(n *node) string {
	var parts []string
	for ; n != nil && n.parent != nil; n = n.parent {
		parts = append(parts, n.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return path.Join(append([]string{t.name}, parts...)...)
}

// errState is an err file's content.
type errState struct {
	mu   sync.Mutex // guards line
	line string
}

// failed records why a write to n failed, in the nearest err file up the
// tree and in the kernel log, and returns err.
func (t *Tree) failed(n *node, op string, err error) error {
	if err == nil {
		return nil
	}
	p := t.path(n)
	reason := err.Error()
	if ke, ok := err.(*kernel.Error); ok {
		reason = ke.Reason()
	}
	t.log.Warn("control write failed", "op", op, "path", p, "err", reason)
	for d := n; d != nil; d = d.parent {
		if d.errs != nil {
			d.errs.mu.Lock()
			d.errs.line = fmt.Sprintf("%s %s %s: %s\n", time.Now().UTC().Format(time.RFC3339), op, p, reason)
			d.errs.mu.Unlock()
			break
		}
	}
	return err
}

func (t *Tree) node(ino uint64) (*node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.nodes[ino]; n != nil {
		return n, nil
	}
	return nil, kernel.E(kernel.NotExist, "no such file or directory")
}

// content renders what a read of a file returns.
func (t *Tree) content(ctx context.Context, n *node) ([]byte, error) {
	switch n.kind {
	case kStatus:
		return n.render(ctx)
	case kValue:
		if n.value.Get == nil {
			return nil, nil // a secret: size 0
		}
		v, err := n.value.Get(ctx)
		if err != nil {
			return nil, err
		}
		return []byte(v + "\n"), nil
	case kCtl:
		return []byte(help(n.cmds)), nil
	case kCall:
		return []byte(n.call.Help), nil
	case kErr:
		n.parent.errs.mu.Lock()
		defer n.parent.errs.mu.Unlock()
		return []byte(n.parent.errs.line), nil
	case kEntry:
		t.mu.Lock()
		pending := n.pending
		t.mu.Unlock()
		if pending {
			return nil, nil
		}
		v, err := n.parent.coll.Get(ctx, n.name)
		if err != nil {
			return nil, err
		}
		return []byte(v + "\n"), nil
	case kDraft:
		t.mu.Lock()
		defer t.mu.Unlock()
		return append([]byte(nil), n.content...), nil
	}
	return nil, nil
}

func (t *Tree) attr(ctx context.Context, n *node) (kernel.Attr, error) {
	a := kernel.Attr{
		Ino: n.ino, Mode: n.mode, Nlink: 1, UID: t.uid, GID: t.gid,
		Atime: t.created, Mtime: t.created, Ctime: t.created,
	}
	switch n.kind {
	case kDir, kColl, kEach:
		a.Nlink, a.Size = 2, 4096
		for _, c := range n.children {
			if c.kind == kDir || c.kind == kColl || c.kind == kEach {
				a.Nlink++
			}
		}
		return a, nil
	case kEvents:
		// Endless: size 0, read it to the end of time. Its times are the
		// last event's, so tail -f, which polls them, reads on.
		if last := n.events.Last(); last.After(a.Mtime) {
			a.Mtime, a.Ctime = last, last
		}
		return a, nil
	case kLog:
		a.Size = n.logbuf.Total()
		if last := n.logbuf.Last(); last.After(a.Mtime) {
			a.Mtime, a.Ctime = last, last
		}
		a.Blocks = (a.Size + 511) / 512
		return a, nil
	default:
		b, err := t.content(ctx, n)
		if err != nil {
			return kernel.Attr{}, err
		}
		a.Size = int64(len(b))
		a.Mtime = t.modified(n, b)
		if m, ok := n.parentColl().(ModTimer); ok && n.kind == kEntry {
			if at, err := m.ModTime(ctx, n.name); err == nil && !at.IsZero() {
				a.Mtime = at
			}
		}
		if n.kind == kValue && n.value.Changed != nil {
			if at, err := n.value.Changed(ctx); err == nil && !at.IsZero() {
				a.Mtime = at
			}
		}
		a.Ctime = a.Mtime
	}
	a.Blocks = (a.Size + 511) / 512
	return a, nil
}

// modified is when n's content became b: the tree's creation if it has not
// changed since, else when it was first rendered different (ls -lt and
// find -newer see a route or a setting change). Writing the same value
// again leaves it.
func (t *Tree) modified(n *node, b []byte) time.Time {
	sum := sha256.Sum256(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case n.changed.IsZero():
		n.changed = t.created
	case sum != n.seen:
		n.changed = time.Now()
	}
	n.seen = sum
	return n.changed
}

// parentColl is the collection n is an entry of, or nil.
func (n *node) parentColl() Collection {
	if n.parent == nil {
		return nil
	}
	return n.parent.coll
}

// Root implements kernel.FileSystem.
func (t *Tree) Root() uint64 { return 1 }

// Getattr implements kernel.FileSystem.
func (t *Tree) Getattr(ctx context.Context, ino uint64) (kernel.Attr, error) {
	n, err := t.node(ino)
	if err != nil {
		return kernel.Attr{}, err
	}
	return t.attr(ctx, n)
}

// Lookup implements kernel.FileSystem.
func (t *Tree) Lookup(ctx context.Context, dir uint64, name string) (kernel.Attr, error) {
	d, err := t.node(dir)
	if err != nil {
		return kernel.Attr{}, err
	}
	var n *node
	switch d.kind {
	case kDir:
		n = d.children[name]
	case kColl:
		if n, err = t.collLookup(ctx, d, name); err != nil {
			return kernel.Attr{}, err
		}
	case kEach:
		if n, err = t.eachLookup(ctx, d, name); err != nil {
			return kernel.Attr{}, err
		}
	default:
		return kernel.Attr{}, kernel.E(kernel.NotDir, "not a directory")
	}
	if n == nil {
		return kernel.Attr{}, kernel.E(kernel.NotExist, "no such file or directory")
	}
	return t.attr(ctx, n)
}

// ReadDir implements kernel.FileSystem.
func (t *Tree) ReadDir(ctx context.Context, dir uint64) ([]kernel.DirEntry, error) {
	d, err := t.node(dir)
	if err != nil {
		return nil, err
	}
	var out []kernel.DirEntry
	switch d.kind {
	case kDir:
		for _, c := range d.children {
			if !c.hidden {
				out = append(out, kernel.DirEntry{Name: c.name, Ino: c.ino, Mode: c.mode & syscall.S_IFMT})
			}
		}
	case kColl:
		if out, err = t.collList(ctx, d); err != nil {
			return nil, err
		}
	case kEach:
		if out, err = t.eachList(ctx, d); err != nil {
			return nil, err
		}
	default:
		return nil, kernel.E(kernel.NotDir, "not a directory")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Open implements kernel.FileSystem.
func (t *Tree) Open(ctx context.Context, ino uint64, flags int) (kernel.Handle, error) {
	n, err := t.node(ino)
	if err != nil {
		return nil, err
	}
	return t.open(ctx, n, flags)
}

func (t *Tree) open(ctx context.Context, n *node, flags int) (kernel.Handle, error) {
	writing := flags&kernel.OAccess != kernel.ORdonly
	switch n.kind {
	case kDir, kColl, kEach:
		return nil, kernel.E(kernel.IsDir, "is a directory")
	case kEvents:
		if writing {
			return nil, kernel.E(kernel.Permission, "read-only file")
		}
		return &eventsHandle{ev: n.events, cursor: n.events.Cursor()}, nil
	case kLog:
		if writing {
			return nil, kernel.E(kernel.Permission, "read-only file")
		}
		return &logHandle{lb: n.logbuf}, nil
	}
	if !writing {
		if n.kind == kValue && n.value.Get == nil {
			return nil, kernel.E(kernel.Permission, "write-only file: a secret never reads back")
		}
		b, err := t.content(ctx, n)
		if err != nil {
			return nil, err
		}
		return &snapshot{data: b}, nil
	}
	switch n.kind {
	case kValue:
		if n.value.Set == nil {
			return nil, kernel.E(kernel.Permission, "read-only file")
		}
		return &lineWriter{t: t, n: n, single: true, apply: n.value.Set}, nil
	case kCtl:
		return &lineWriter{t: t, n: n,
			apply: func(ctx context.Context, line string) error { return run(ctx, n.cmds, line) },
			check: func(line string) error { _, _, err := parse(n.cmds, line); return err }}, nil
	case kCall:
		return &lineWriter{t: t, n: n, answer: n.call.Run}, nil
	case kEntry:
		return t.entryWriter(n), nil
	case kDraft:
		if flags&kernel.OTrunc != 0 {
			t.mu.Lock()
			n.content = nil
			t.mu.Unlock()
		}
		return &draftHandle{t: t, n: n}, nil
	}
	return nil, kernel.E(kernel.Permission, "read-only file")
}

// Readlink implements kernel.FileSystem.
func (t *Tree) Readlink(ctx context.Context, ino uint64) (string, error) {
	return "", kernel.E(kernel.Invalid, "not a symbolic link")
}

// Statfs implements kernel.FileSystem.
func (t *Tree) Statfs(ctx context.Context) (kernel.Statfs, error) {
	return kernel.Statfs{Bsize: 4096, NameMax: kernel.MaxName}, nil
}

// Setattr implements kernel.Writer. Synthetic files keep no mode, owner or
// times: changes of those are accepted and do nothing (rsync and cp send
// them). Truncating to zero is what "echo x > f" does before writing, and
// is accepted; a draft takes any size.
func (t *Tree) Setattr(ctx context.Context, ino uint64, set kernel.SetAttr) (kernel.Attr, error) {
	n, err := t.node(ino)
	if err != nil {
		return kernel.Attr{}, err
	}
	if set.Valid&kernel.SetSize != 0 {
		switch {
		case n.kind == kDraft:
			t.mu.Lock()
			if int64(len(n.content)) > set.Size {
				n.content = n.content[:set.Size]
			} else {
				n.content = append(n.content, make([]byte, set.Size-int64(len(n.content)))...)
			}
			t.mu.Unlock()
		case set.Size == 0 && (n.kind == kValue && n.value.Set != nil || n.kind == kCtl || n.kind == kEntry):
		default:
			return kernel.Attr{}, t.failed(n, "truncate", kernel.E(kernel.Invalid, "control files take writes, not sizes"))
		}
	}
	return t.attr(ctx, n)
}

// Create implements kernel.Writer: only collections take new names.
func (t *Tree) Create(ctx context.Context, dir uint64, name string, flags int, mode uint32, cred kernel.Cred) (kernel.Attr, kernel.Handle, error) {
	d, err := t.node(dir)
	if err != nil {
		return kernel.Attr{}, nil, err
	}
	if d.kind != kColl {
		return kernel.Attr{}, nil, kernel.E(kernel.NotPermitted, "the files of this directory are fixed")
	}
	return t.collCreate(ctx, d, name, flags)
}

// Unlink implements kernel.Writer: only entries and drafts of collections
// can be removed.
func (t *Tree) Unlink(ctx context.Context, dir uint64, name string) error {
	d, err := t.node(dir)
	if err != nil {
		return err
	}
	if d.kind != kColl {
		return kernel.E(kernel.NotPermitted, "the files of this directory are fixed")
	}
	return t.collRemove(ctx, d, name)
}

// Rename implements kernel.Writer, within one collection.
func (t *Tree) Rename(ctx context.Context, olddir uint64, oldname string, newdir uint64, newname string, flags uint32) error {
	d, err := t.node(olddir)
	if err != nil {
		return err
	}
	if d.kind != kColl || newdir != olddir {
		return kernel.E(kernel.NotPermitted, "names move only within one collection")
	}
	if flags != 0 {
		return kernel.E(kernel.NotSupported, "rename flags are not supported here")
	}
	return t.collRename(ctx, d, oldname, newname)
}

// Mkdir implements kernel.Writer: refused.
func (t *Tree) Mkdir(ctx context.Context, dir uint64, name string, mode uint32, cred kernel.Cred) (kernel.Attr, error) {
	return kernel.Attr{}, kernel.E(kernel.NotPermitted, "no directories can be made here")
}

// Symlink implements kernel.Writer: refused.
func (t *Tree) Symlink(ctx context.Context, dir uint64, name, target string, cred kernel.Cred) (kernel.Attr, error) {
	return kernel.Attr{}, kernel.E(kernel.NotPermitted, "no links can be made here")
}

// Link implements kernel.Writer: refused.
func (t *Tree) Link(ctx context.Context, ino, dir uint64, name string) (kernel.Attr, error) {
	return kernel.Attr{}, kernel.E(kernel.NotPermitted, "no links can be made here")
}

// Rmdir implements kernel.Writer: refused.
func (t *Tree) Rmdir(ctx context.Context, dir uint64, name string) error {
	return kernel.E(kernel.NotPermitted, "the directories of this tree are fixed")
}

// help renders a ctl file's command table.
func help(cmds []Command) string {
	var b strings.Builder
	b.WriteString("# write one command per line:\n")
	for _, c := range cmds {
		use := strings.TrimSpace(c.Verb + " " + strings.Join(c.Args, " "))
		if c.Variadic {
			use += "..."
		}
		if c.Usage != "" {
			use = c.Verb + " " + c.Usage
		}
		fmt.Fprintf(&b, "%-32s %s\n", use, c.Help)
	}
	return b.String()
}

// run parses a command line against cmds and runs it. Unknown verbs, wrong
// argument counts and empty commands are Invalid.
func run(ctx context.Context, cmds []Command, line string) error {
	c, args, err := parse(cmds, line)
	if err != nil {
		return err
	}
	return c.Run(ctx, args)
}

// parse finds a line's command and checks its arguments.
func parse(cmds []Command, line string) (*Command, []string, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return nil, nil, kernel.E(kernel.Invalid, "empty command")
	}
	var best *Command
	words := 0
	for i := range cmds {
		v := strings.Fields(cmds[i].Verb)
		if len(v) <= len(fields) && len(v) > words && strings.Join(fields[:len(v)], " ") == strings.Join(v, " ") {
			best, words = &cmds[i], len(v)
		}
	}
	if best == nil {
		// "tls" for "tls on" and "tls off": say what it takes.
		var longer []string
		for _, c := range cmds {
			if strings.HasPrefix(c.Verb, fields[0]+" ") {
				longer = append(longer, c.Verb)
			}
		}
		if len(longer) > 0 {
			return nil, nil, kernel.E(kernel.Invalid, fmt.Sprintf("%q is not a command by itself: %s", fields[0], strings.Join(longer, ", ")))
		}
		return nil, nil, kernel.E(kernel.Invalid, fmt.Sprintf("unknown command %q (read this file for the list)", fields[0]))
	}
	args := fields[words:]
	if len(args) < len(best.Args) || !best.Variadic && len(args) > len(best.Args) {
		usage := strings.Join(best.Args, " ")
		if best.Usage != "" {
			usage = best.Usage
		}
		return nil, nil, kernel.E(kernel.Invalid, strings.TrimSpace(fmt.Sprintf("usage: %s %s", best.Verb, usage)))
	}
	if best.Check != nil {
		if err := best.Check(args); err != nil {
			return nil, nil, err
		}
	}
	return best, args, nil
}

// NewFile returns a tree that is a single read-only file rendered by r, to
// bind as a file (the namespace's /README).
func NewFile(name string, r Render) *Tree {
	t := newTree(name, nil)
	n := t.newNode(nil, "", kStatus, syscall.S_IFREG|0o444)
	n.render = r
	n.addOrigin()
	return t
}
