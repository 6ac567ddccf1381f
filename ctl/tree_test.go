package ctl

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// memColl is a collection in memory: keys are lower-case words, values one
// word.
type memColl struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *memColl) Keys(ctx context.Context) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k := range c.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}
func (c *memColl) Get(ctx context.Context, k string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if !ok {
		return "", kernel.E(kernel.NotExist, "no such key")
	}
	return v, nil
}
func (c *memColl) Set(ctx context.Context, k, v string) error {
	if v == "" || strings.ContainsAny(v, " \t") {
		return kernel.E(kernel.Invalid, "bad value "+v)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
	return nil
}
func (c *memColl) Remove(ctx context.Context, k string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		return kernel.E(kernel.NotExist, "no such key")
	}
	delete(c.m, k)
	return nil
}
func (c *memColl) ValidKey(name string) error {
	for _, r := range name {
		if r < 'a' || r > 'z' {
			return kernel.E(kernel.Invalid, "not a key")
		}
	}
	return nil
}

type fixture struct {
	k      *kernel.Kernel
	coll   *memColl
	val    string
	secret string
	ran    []string
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{k: kernel.New("test", quiet), coll: &memColl{m: map[string]string{"alpha": "one"}}, val: "v0"}
	tr := New("/t", quiet)
	root := tr.RootDir()
	root.Value("value", Value{
		Get: func(context.Context) (string, error) { return f.val, nil },
		Set: func(_ context.Context, v string) error {
			if v == "bad" {
				return kernel.E(kernel.Invalid, "bad is bad")
			}
			f.val = v
			return nil
		}})
	root.Value("secret", Value{Set: func(_ context.Context, v string) error { f.secret = v; return nil }})
	root.Status("status", Text("a 1\nb 2\n"))
	root.Call("call", Call{Help: "write a word, read it back loud\n", Run: func(_ context.Context, line string) (string, error) {
		if line == "" {
			return "", kernel.E(kernel.Invalid, "say something")
		}
		return strings.ToUpper(line) + "\n", nil
	}})
	root.Ctl("ctl", []Command{
		{Verb: "ping", Help: "answer", Run: func(context.Context, []string) error { f.ran = append(f.ran, "ping"); return nil }},
		{Verb: "say", Args: []string{"WORD"}, Run: func(_ context.Context, a []string) error { f.ran = append(f.ran, "say "+a[0]); return nil }},
		{Verb: "route add", Args: []string{"HOST", "TARGET"}, Variadic: true,
			Run: func(_ context.Context, a []string) error {
				f.ran = append(f.ran, "add "+strings.Join(a, ","))
				return nil
			}},
	})
	root.Collection("coll", f.coll)
	root.Each("each", f.coll.Keys, map[string]KeyRender{
		"value": func(ctx context.Context, key string) ([]byte, error) {
			v, err := f.coll.Get(ctx, key)
			return []byte(key + "=" + v + "\n"), err
		}})
	root.Events("events", f.k.Events)
	lb := NewLogBuffer(100)
	root.Log("log", lb)
	root.Err()
	if err := f.k.NS.Bind("t", tr); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) write(t *testing.T, p, data string) error {
	t.Helper()
	return f.k.FS.WriteFile(context.Background(), p, []byte(data), 0o644)
}

func (f *fixture) read(t *testing.T, p string) string {
	t.Helper()
	b, err := f.k.FS.ReadFile(context.Background(), p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func kindIs(t *testing.T, err error, k kernel.Kind) {
	t.Helper()
	if kernel.KindOf(err) != k {
		t.Fatalf("err %v (kind %v), want %v", err, kernel.KindOf(err), k)
	}
}

func TestValueFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if got := f.read(t, "/t/value"); got != "v0\n" {
		t.Fatalf("read %q", got)
	}
	if err := f.write(t, "/t/value", "v1\n"); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, "/t/value"); got != "v1\n" {
		t.Fatalf("after write %q", got)
	}
	// Without a trailing newline, applied at close.
	if err := f.write(t, "/t/value", "v2"); err != nil || f.val != "v2" {
		t.Fatalf("no newline: %v %q", err, f.val)
	}
	// A refused value fails the write, keeps the old value, and says why.
	kindIs(t, f.write(t, "/t/value", "bad\n"), kernel.Invalid)
	if f.val != "v2" || !strings.Contains(f.read(t, "/t/err"), "write /t/value: bad is bad") {
		t.Fatalf("val %q err %q", f.val, f.read(t, "/t/err"))
	}
	// A value is one line: a write of two is refused whole.
	kindIs(t, f.write(t, "/t/value", "a\nb\n"), kernel.Invalid)
	if f.val != "v2" || !strings.Contains(f.read(t, "/t/err"), "nothing was applied") {
		t.Fatalf("after two lines: %q, err %q", f.val, f.read(t, "/t/err"))
	}
	// Writes in pieces.
	fl, _ := f.k.FS.Open(ctx, "/t/value", kernel.OWronly|kernel.OTrunc, 0)
	fl.WriteAt(ctx, []byte("pie"), 0)
	if f.val != "v2" {
		t.Fatal("applied before the line ended")
	}
	fl.WriteAt(ctx, []byte("ce\n"), 3)
	if f.val != "piece" {
		t.Fatalf("pieces: %q", f.val)
	}
	fl.Close()
	// The truncate of "echo x > f", and stat's size.
	if _, err := f.k.FS.Setattr(ctx, "/t/value", kernel.SetAttr{Valid: kernel.SetSize | kernel.SetMode, Size: 0, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	a, _ := f.k.FS.Stat(ctx, "/t/value")
	if a.Size != int64(len("piece\n")) || a.Mode != syscall.S_IFREG|0o644 {
		t.Fatalf("stat %+v", a)
	}
	kindIs(t, f.k.FS.Truncate(ctx, "/t/value", 3), kernel.Invalid)
	kindIs(t, f.write(t, "/t/value", strings.Repeat("x", 70<<10)), kernel.TooLarge)
}

func TestCallFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if got := f.read(t, "/t/call"); got != "write a word, read it back loud\n" {
		t.Fatalf("help %q", got)
	}
	fl, err := f.k.FS.Open(ctx, "/t/call", kernel.ORdwr, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if _, err := fl.WriteAt(ctx, []byte("abc\n"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, _ := fl.ReadAt(ctx, buf, 4); string(buf[:n]) != "ABC\n" {
		t.Fatalf("answer after the request %q", buf[:n])
	}
	if n, _ := fl.ReadAt(ctx, buf, 0); n != 0 {
		t.Fatalf("read over the request %q", buf[:n])
	}
	// Another open has its own answers.
	other, _ := f.k.FS.Open(ctx, "/t/call", kernel.ORdwr, 0)
	defer other.Close()
	if n, _ := other.ReadAt(ctx, buf, 0); n != 0 {
		t.Fatalf("another open reads %q", buf[:n])
	}
	_, err = other.WriteAt(ctx, []byte("\n"), 0)
	kindIs(t, err, kernel.Invalid)
	if !strings.Contains(f.read(t, "/t/err"), "say something") {
		t.Fatalf("err %q", f.read(t, "/t/err"))
	}
}

func TestSecretFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.write(t, "/t/secret", "hunter2\n"); err != nil || f.secret != "hunter2" {
		t.Fatalf("write: %v %q", err, f.secret)
	}
	a, err := f.k.FS.Stat(ctx, "/t/secret")
	if err != nil || a.Mode != syscall.S_IFREG|0o200 || a.Size != 0 {
		t.Fatalf("stat %+v %v", a, err)
	}
	_, err = f.k.FS.Open(ctx, "/t/secret", kernel.ORdonly, 0)
	kindIs(t, err, kernel.Permission)
	// Opened for reading and writing, it reads nothing.
	fl, err := f.k.FS.Open(ctx, "/t/secret", kernel.ORdwr, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if n, _ := fl.ReadAt(ctx, make([]byte, 16), 0); n != 0 {
		t.Fatalf("read %d bytes of a secret", n)
	}
}

func TestCtlFile(t *testing.T) {
	f := newFixture(t)
	if err := f.write(t, "/t/ctl", "ping\nsay hi\nroute add h redirect http://x/\n"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.ran, "|") != "ping|say hi|add h,redirect,http://x/" {
		t.Fatalf("ran %q", f.ran)
	}
	for _, bad := range []string{"\n", "nope\n", "say\n", "say a b\n", "route add h\n"} {
		kindIs(t, f.write(t, "/t/ctl", bad), kernel.Invalid)
	}
	if got := f.read(t, "/t/err"); !strings.Contains(got, "usage: route add HOST TARGET") {
		t.Fatalf("err %q", got)
	}
	// A write with a bad line applies none of its lines, and err names it.
	f.ran = nil
	kindIs(t, f.write(t, "/t/ctl", "ping\nnope\nping\n"), kernel.Invalid)
	if len(f.ran) != 0 || !strings.Contains(f.read(t, "/t/err"), "line 2 of 3") {
		t.Fatalf("ran %q after a bad line; err %q", f.ran, f.read(t, "/t/err"))
	}
	if help := f.read(t, "/t/ctl"); !strings.Contains(help, "say WORD") || !strings.Contains(help, "route add HOST TARGET...") {
		t.Fatalf("help %q", help)
	}
	kindIs(t, f.write(t, "/t/status", "x"), kernel.Permission)
	kindIs(t, f.write(t, "/t/err", "x"), kernel.Permission)
	kindIs(t, f.k.FS.Mkdir(context.Background(), "/t/dir", 0o755), kernel.NotPermitted)
	kindIs(t, f.k.FS.Remove(context.Background(), "/t/value"), kernel.NotPermitted)
}

func TestCollection(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	fs := f.k.FS
	if got := f.read(t, "/t/coll/alpha"); got != "one\n" {
		t.Fatalf("read %q", got)
	}
	if err := f.write(t, "/t/coll/beta", "two\n"); err != nil {
		t.Fatal(err)
	}
	ents, _ := fs.ReadDir(ctx, "/t/coll")
	if len(ents) != 2 || ents[0].Name != "alpha" || ents[1].Name != "beta" {
		t.Fatalf("list %v", ents)
	}
	// A bad value for a new name: refused, and the name does not stay.
	kindIs(t, f.write(t, "/t/coll/gamma", "two words\n"), kernel.Invalid)
	if _, err := fs.Stat(ctx, "/t/coll/gamma"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("a refused entry stayed: %v", err)
	}
	// rsync: a draft with a name that is not a key, renamed onto the key.
	if err := f.write(t, "/t/coll/.beta.XyZ12", "three\n"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename(ctx, "/t/coll/.beta.XyZ12", "/t/coll/beta"); err != nil {
		t.Fatal(err)
	}
	if f.coll.m["beta"] != "three" {
		t.Fatalf("rename onto a key: %v", f.coll.m)
	}
	if _, err := fs.Stat(ctx, "/t/coll/.beta.XyZ12"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatal("the draft stayed")
	}
	// An editor's backup: the key renamed to a draft name, then a new file.
	if err := fs.Rename(ctx, "/t/coll/beta", "/t/coll/beta~"); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.coll.m["beta"]; ok || f.read(t, "/t/coll/beta~") != "three\n" {
		t.Fatalf("backup: %v", f.coll.m)
	}
	// A name that is neither a key nor a temporary file is refused.
	kindIs(t, f.write(t, "/t/coll/NOPE", "x\n"), kernel.Invalid)
	// A bad draft cannot become a key.
	f.write(t, "/t/coll/.tmp1", "bad value\n")
	kindIs(t, fs.Rename(ctx, "/t/coll/.tmp1", "/t/coll/delta"), kernel.Invalid)
	if err := fs.Remove(ctx, "/t/coll/.tmp1"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Remove(ctx, "/t/coll/alpha"); err != nil {
		t.Fatal(err)
	}
	kindIs(t, fs.Remove(ctx, "/t/coll/alpha"), kernel.NotExist)
	kindIs(t, fs.Remove(ctx, "/t/coll/NOPE"), kernel.NotExist)
}

func TestEventsAndLog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A tool that walks the tree does not meet the blocking stream.
	ents, err := f.k.FS.ReadDir(ctx, "/t")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name == "events"+StreamSuffix {
			t.Fatal("the stream is listed")
		}
	}
	fl, err := f.k.FS.Open(ctx, "/t/events"+StreamSuffix, kernel.ORdonly, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		b := make([]byte, 4096)
		n, _ := fl.Reader(ctx).Read(b)
		got <- string(b[:n])
	}()
	select {
	case s := <-got:
		t.Fatalf("read returned %q before anything happened", s)
	case <-time.After(50 * time.Millisecond):
	}
	f.k.Events.Publish("net", "route", "h", "site")
	select {
	case s := <-got:
		if !strings.HasSuffix(s, " net route h site\n") {
			t.Fatalf("event %q", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a blocked read did not wake")
	}
	// A read ends when its caller gives up.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := fl.Reader(cctx).Read(make([]byte, 100)); kernel.KindOf(err) != kernel.Interrupted {
		t.Fatalf("cancelled read: %v", err)
	}
	fl.Close()
	// The events file holds the recent lines, and ends.
	if b, err := f.k.FS.ReadFile(ctx, "/t/events"); err != nil || !strings.HasSuffix(string(b), " net route h site\n") {
		t.Fatalf("events: %q %v", b, err)
	}
	if a, err := f.k.FS.Stat(ctx, "/t/events"); err != nil || a.Size == 0 || time.Since(a.Mtime) > time.Minute {
		t.Fatalf("events: size %d, mtime %v, %v", a.Size, a.Mtime, err)
	}

	lb := NewLogBuffer(100)
	for i := 0; i < 20; i++ {
		lb.Write([]byte("line " + strings.Repeat("x", i) + "\n"))
	}
	total := lb.Total()
	h := &logHandle{lb: lb}
	buf := make([]byte, 1000)
	n, _ := h.ReadAt(context.Background(), buf, 0)
	if n == 0 || n > 100 || !strings.HasPrefix(string(buf[:n]), "line ") {
		t.Fatalf("from a dropped offset: %q", buf[:n])
	}
	// Reading on from where it ended gives nothing twice.
	if m, _ := h.ReadAt(context.Background(), buf, int64(n)); m != 0 {
		t.Fatalf("read %d more bytes at the end", m)
	}
	lb.Write([]byte("new\n"))
	if m, _ := h.ReadAt(context.Background(), buf, int64(n)); string(buf[:m]) != "new\n" {
		t.Fatalf("tail: %q", buf[:m])
	}
	if lb.Total() != total+4 {
		t.Fatal("size is not the bytes ever written")
	}
}

func TestEach(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	fs := f.k.FS
	if got := f.read(t, "/t/each/alpha/value"); got != "alpha=one\n" {
		t.Fatalf("read %q", got)
	}
	// A key added elsewhere shows up without the tree being told.
	f.coll.Set(ctx, "beta", "two")
	ents, err := fs.ReadDir(ctx, "/t/each")
	if err != nil || len(ents) != 2 || ents[1].Name != "beta" || ents[1].Mode != syscall.S_IFDIR {
		t.Fatalf("list %v %v", ents, err)
	}
	if got := f.read(t, "/t/each/beta/value"); got != "beta=two\n" {
		t.Fatalf("read %q", got)
	}
	// Gone keys are gone; the directories take no new files.
	f.coll.Remove(ctx, "beta")
	kindIs(t, func() error { _, err := fs.Stat(ctx, "/t/each/beta"); return err }(), kernel.NotExist)
	kindIs(t, f.write(t, "/t/each/alpha/value", "x\n"), kernel.Permission)
	kindIs(t, f.write(t, "/t/each/alpha/new", "x\n"), kernel.NotPermitted)
	kindIs(t, f.write(t, "/t/each/gamma", "x\n"), kernel.NotPermitted)
	kindIs(t, fs.Mkdir(ctx, "/t/each/gamma", 0o755), kernel.NotPermitted)
}

// A directory built by two parts is their union: one subdirectory, the
// status renders one after the other, the ctl commands joined, one err.
func TestUnion(t *testing.T) {
	k := kernel.New("test", quiet)
	tr := New("/u", quiet)
	var ran []string
	cmd := func(verb string) Command {
		return Command{Verb: verb, Run: func(context.Context, []string) error { ran = append(ran, verb); return nil }}
	}
	for _, part := range []string{"one", "two"} {
		d := tr.RootDir()
		d.Dir("sub").Status(part, Text(part+"\n"))
		d.Status("status", Text("from "+part+"\n"))
		d.Ctl("ctl", []Command{cmd("do " + part)})
		d.Err()
	}
	if err := k.NS.Bind("u", tr); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	read := func(p string) string {
		b, err := k.FS.ReadFile(ctx, p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return string(b)
	}
	if got := read("/u/status"); got != "from one\nfrom two\n" {
		t.Fatalf("status %q", got)
	}
	if read("/u/sub/one") != "one\n" || read("/u/sub/two") != "two\n" {
		t.Fatal("the subdirectory is not the union")
	}
	if err := k.FS.WriteFile(ctx, "/u/ctl", []byte("do two\ndo one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ran, ",") != "do two,do one" {
		t.Fatalf("ran %q", ran)
	}
	for name, add := range map[string]func(){
		"verb twice":      func() { tr.RootDir().Ctl("ctl", []Command{cmd("do one")}) },
		"file as dir":     func() { tr.RootDir().Dir("status") },
		"value over ctl":  func() { tr.RootDir().Value("ctl", Value{}) },
		"status over dir": func() { tr.RootDir().Status("sub", Text("")) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			add()
		}()
	}
}
