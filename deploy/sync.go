package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	ignore "github.com/sabhiram/go-gitignore"
	"golang.org/x/sync/errgroup"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/kernel"
)

// Tree is where a deploy goes: the kernel's tree, in this process or
// through an API.
type Tree interface {
	Stat(ctx context.Context, p string) (fs.FileInfo, error)
	ReadDir(ctx context.Context, p string) ([]fs.FileInfo, error)
	Open(ctx context.Context, p string) (io.ReadCloser, error)
	Create(ctx context.Context, p string, perm fs.FileMode) (io.WriteCloser, error)
	Mkdir(ctx context.Context, p string, perm fs.FileMode, parents bool) error
	Remove(ctx context.Context, p string, recursive bool) error
	Rename(ctx context.Context, from, to string) error
	Clone(ctx context.Context, src, dst string) error
	Exchange(ctx context.Context, a, b string) error
	// Sums is the manifest of the tree at p, without the entries of p
	// named in skip.
	Sums(ctx context.Context, p string, skip ...string) (api.Sums, error)
	Symlink(ctx context.Context, target, p string) error
	// Link makes each pair's To a clone of its From, and returns the
	// indexes of the pairs whose From was not there.
	Link(ctx context.Context, pairs []api.LinkPair) ([]int, error)
	// WriteFiles writes many small files at once (all or none); their
	// directories exist.
	WriteFiles(ctx context.Context, files []kernel.NewFile) error
}

// Options of a sync.
type Options struct {
	Delete bool      // remove what the source does not have
	DryRun bool      // say what would change, change nothing
	Who    string    // recorded with the deploy
	Log    io.Writer // one line per change when set
	Keep   int       // past deploys kept; 0 is the site's setting (Keep)
	// LinkAcross also looks for the content to send in the other sites
	// and this site's past deploys (what the client may read) when there
	// are at least 4 MB to send: worth it when sending is slow (a remote
	// deploy). Otherwise only the live tree is a link source; the content
	// is stored once either way.
	LinkAcross bool
	// CacheDir, if set, keeps the digests of the source's files from sync
	// to sync (see digests): unchanged files are not read again.
	CacheDir string
	// Progress, if set, is told after each file sent: files and bytes
	// sent so far, of how many.
	Progress func(files, ofFiles int, bytes, ofBytes int64)
	// CopyUnsafeLinks sends what a link that leads outside the site
	// points to, as a file in its place (rsync's --copy-unsafe-links).
	CopyUnsafeLinks bool
}

// DefaultKeep is how many past deploys a site keeps.
const DefaultKeep = 10

// Result says what a sync did.
type Result struct {
	ID        string // the deploy made live ("" for a dry run)
	Files     int    // files in the source
	Uploaded  int    // files sent
	Bytes     int64  // bytes sent
	Linked    int    // files whose content fazt already held, referenced instead of sent
	Unchanged int    // files already there
	Removed   int    // entries removed (with Delete)
	Dirs      int    // directories made
	// Unsafe lists the links that lead outside the site ("REL -> TARGET"):
	// deployed as links, not served.
	Unsafe []string
	// Skipped lists the special files of the source ("REL (fifo)"): FIFOs,
	// sockets and devices are not sent.
	Skipped []string
}

// The places of a site's deploys, beside /fs/SITE: names that start with
// a dot are not site names, so nothing routes to them.
func stagingPath(site string) string { return "/fs/.staging/" + site }
func historyDir(site string) string  { return "/fs/.deploys/" + site }

// SitePath is the live tree of a site.
func SitePath(site string) string { return "/fs/" + site }

// confined returns ctx with its caller held to site's trees: reading /fs
// (where content to link may be), writing only the site, its staging tree
// and its history. The records a deploy reads back (the live deploy's id,
// the lock's owner) may have been written by anyone who may write the
// site; whatever they say, a deploy run in this process (the kernel's
// /deploys/ctl, the CLI without a kernel) cannot be steered outside the
// site. Through the API the server holds a remote caller to its token.
func confined(ctx context.Context, site string) context.Context {
	return kernel.WithCaller(ctx, kernel.Scope(kernel.CallerFrom(ctx), map[string]kernel.Level{
		"/fs": kernel.Read, SitePath(site): kernel.Write, stagingPath(site): kernel.Write, historyDir(site): kernel.Write,
	}))
}

// local is a file or directory of the source.
type local struct {
	rel    string
	mode   fs.FileMode
	size   int64
	target string // symlinks
	stamp  stamp  // regular files: what identifies their content (digests)
}

// Sync makes the tree of site what src holds, atomically: it prepares a
// copy (a clone of the live tree, or the copy a previous sync left
// unfinished), sends only what differs, then swaps it with the live tree
// in one step. The replaced tree is kept as a past deploy.
func Sync(ctx context.Context, t Tree, src, site string, opt Options) (res Result, err error) {
	if err := validSite(site); err != nil {
		return res, err
	}
	ctx = confined(ctx, site)
	files, err := scan(src)
	if err != nil {
		return res, err
	}
	files, unsafe := unsafeLinks(src, site, files, opt.CopyUnsafeLinks)
	files, skipped := specials(files)
	defer func() { res.Unsafe, res.Skipped = unsafe, skipped }()
	live, staging := SitePath(site), stagingPath(site)
	linfo, lerr := t.Stat(ctx, live)
	if lerr != nil && kernel.KindOf(lerr) != kernel.NotExist {
		return res, lerr
	}
	_, serr := t.Stat(ctx, staging)
	if serr != nil && kernel.KindOf(serr) != kernel.NotExist {
		return res, serr
	}
	resuming := serr == nil
	// First against the live tree: a sync that changes nothing touches
	// nothing. A copy left by an interrupted sync is compared instead,
	// so that what it holds already is not sent again.
	there := live
	if resuming {
		there = staging
	}
	sums := loadDigests(src, opt.CacheDir) // local digests, computed once for both plans
	defer sums.save()
	p, err := plan(ctx, t, files, there, sums, opt)
	if err != nil {
		return res, err
	}
	if opt.DryRun || (p.empty() && !resuming) {
		if opt.DryRun {
			if err := p.link(ctx, t, site, sums, opt.LinkAcross); err != nil {
				return res, err
			}
		}
		res = p.res
		if !opt.DryRun {
			res.ID, err = Live(ctx, t, site)
		}
		return res, err
	}
	unlock, err := lock(ctx, t, site, opt.Who)
	if err != nil {
		return res, err
	}
	defer unlock()
	// Another deploy may have changed the site (its live tree is then
	// another directory), or left a copy, before the lock was ours: plan
	// again against what is there now.
	_, serr = t.Stat(ctx, staging)
	if serr != nil && kernel.KindOf(serr) != kernel.NotExist {
		return res, serr
	}
	linfo2, lerr2 := t.Stat(ctx, live)
	if lerr2 != nil && kernel.KindOf(lerr2) != kernel.NotExist {
		return res, lerr2
	}
	if serr == nil != resuming || !sameDir(linfo, linfo2) {
		lerr, resuming = lerr2, serr == nil
		there = live
		if resuming {
			there = staging
		}
		quiet := opt
		quiet.Log = nil
		if p, err = plan(ctx, t, files, there, sums, quiet); err != nil {
			return res, err
		}
	}
	if !resuming {
		if lerr == nil {
			err = t.Clone(ctx, live, staging)
		} else {
			err = t.Mkdir(ctx, staging, 0o755, false)
		}
		if err != nil {
			return res, err
		}
	}
	if err := p.link(ctx, t, site, sums, opt.LinkAcross); err != nil {
		return res, err
	}
	res, err = p.apply(ctx, t, src, staging, sums, opt.Progress)
	if err != nil {
		return res, err
	}
	id, err := commit(ctx, t, site, lerr == nil, opt, res)
	res.ID = id
	return res, err
}

// sameDir tells whether two stats (nil: absent) are of the same directory.
func sameDir(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	aa, aok := a.Sys().(kernel.Attr)
	ba, bok := b.Sys().(kernel.Attr)
	return aok && bok && aa.Ino == ba.Ino
}

// step is one change of a plan.
type step struct {
	op   string // "mkdir", "send", "symlink", "remove"
	rel  string
	mode fs.FileMode
	size int64
	// from, for a send: a file of the tree with the same content and mode,
	// cloned (chunks shared, nothing sent) instead
	from string
	// target, for a symlink
	target string
	// replace: something else is at rel and goes first
	replace bool
	stamp   stamp // a send's local file, for its digest
}

type syncPlan struct {
	steps []step
	bs    int64 // the block size of the tree's digests
	res   Result
	there string             // the tree compared against
	have  map[string]api.Sum // its manifest, by relative path
}

func (p *syncPlan) empty() bool { return len(p.steps) == 0 }

// plan compares the source with the tree at there (which may not exist).
func plan(ctx context.Context, t Tree, files []local, there string, sums *digests, opt Options) (*syncPlan, error) {
	have := map[string]api.Sum{}
	p := &syncPlan{there: there, have: have}
	bs := int64(256 << 10)
	if _, err := t.Stat(ctx, there); err == nil {
		sums, err := t.Sums(ctx, there)
		if err != nil {
			return nil, err
		}
		if sums.BlockSize > 0 {
			bs = sums.BlockSize
		}
		for _, s := range sums.Entries {
			have[s.Path] = s
		}
	} else if kernel.KindOf(err) != kernel.NotExist {
		return nil, err
	}
	p.bs = bs
	say := func(format string, a ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, format+"\n", a...)
		}
	}
	want := map[string]bool{}
	for _, f := range files {
		want[f.rel] = true
		h, ok := have[f.rel]
		hmode := kernel.FileMode(h.Mode)
		switch {
		case f.mode.IsDir():
			if ok && hmode.IsDir() {
				continue
			}
			say("mkdir %s", f.rel)
			p.res.Dirs++
			p.steps = append(p.steps, step{op: "mkdir", rel: f.rel, mode: f.mode.Perm(), replace: ok})
		case f.mode.IsRegular():
			p.res.Files++
			if ok && hmode.IsRegular() && h.Size == f.size {
				d, err := sums.of(f, bs)
				if err != nil {
					return nil, err
				}
				if bytes.Equal(d, h.Digest) && hmode.Perm() == f.mode.Perm() {
					p.res.Unchanged++
					continue
				}
			}
			say("send %s (%d bytes)", f.rel, f.size)
			p.res.Uploaded++
			p.res.Bytes += f.size
			// A file's mode is set when it is made: one of another mode
			// (or a directory) goes first.
			replace := ok && (hmode.IsDir() || hmode.Perm() != f.mode.Perm())
			p.steps = append(p.steps, step{op: "send", rel: f.rel, mode: f.mode.Perm(), size: f.size, stamp: f.stamp, replace: replace})
		case f.mode&fs.ModeSymlink != 0:
			p.res.Files++
			if ok && hmode&fs.ModeSymlink != 0 && h.Target == f.target {
				p.res.Unchanged++
				continue
			}
			say("symlink %s -> %s", f.rel, f.target)
			p.res.Uploaded++
			p.steps = append(p.steps, step{op: "symlink", rel: f.rel, target: f.target, replace: ok})
		default:
			say("skip %s: only files, directories and symbolic links are sent", f.rel)
		}
	}
	if opt.Delete {
		var gone []string
		for rel := range have {
			if !want[rel] {
				gone = append(gone, rel)
			}
		}
		sort.Strings(gone) // parents first: removing one removes what is in it
		removed := map[string]bool{}
		for _, rel := range gone {
			removed[rel] = true
			if under(rel, removed) {
				continue
			}
			say("remove %s", rel)
			p.res.Removed++
			p.steps = append(p.steps, step{op: "remove", rel: rel})
		}
	}
	return p, nil
}

// apply carries the plan out in the staging tree.
func (p *syncPlan) apply(ctx context.Context, t Tree, src, staging string, sums *digests, progress func(int, int, int64, int64)) (Result, error) {
	// Requests of files travel several at a time, their round trips
	// overlapping. Directories and removals happen in order, before the
	// files that need them.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(uploaders)
	var mu sync.Mutex // guards files, sent and p.res
	files, sent := 0, int64(0)
	done := func(n int, bytes int64) {
		mu.Lock()
		defer mu.Unlock()
		files, sent = files+n, sent+bytes
		if progress != nil {
			progress(files, p.res.Uploaded, sent, p.res.Bytes)
		}
	}
	// Small files travel many a request (one change of the tree for all),
	// large ones streamed one a request, after the small ones: an
	// interrupted deploy has then sent as many files as it could.
	// Their digests are kept as they are read, for the next sync.
	var pending []kernel.NewFile
	var stamps []stamp
	var pendingSize int64
	flush := func() {
		if len(pending) == 0 {
			return
		}
		b, st, size := pending, stamps, pendingSize
		pending, stamps, pendingSize = nil, nil, 0
		g.Go(func() error {
			for i := range b {
				data, err := os.ReadFile(filepath.Join(src, b[i].Path))
				if err != nil {
					return err
				}
				sums.record(b[i].Path, st[i], p.bs, data)
				b[i].Path, b[i].Data = path.Join(staging, b[i].Path), data
			}
			if err := t.WriteFiles(gctx, b); err != nil {
				return err
			}
			done(len(b), size)
			return nil
		})
	}
	var large []step
	send := func(s step) {
		if s.size > smallFile {
			large = append(large, s)
			return
		}
		pending = append(pending, kernel.NewFile{Path: s.rel, Mode: uint32(s.mode.Perm())})
		stamps = append(stamps, s.stamp)
		if pendingSize += s.size; len(pending) == batchFiles || pendingSize >= batchBytes {
			flush()
		}
	}
	stream := func(s step) {
		g.Go(func() error {
			if err := Upload(gctx, t, filepath.Join(src, s.rel), path.Join(staging, s.rel), s.mode); err != nil {
				return err
			}
			done(1, s.size)
			return nil
		})
	}
	var links []step
	for _, s := range p.steps {
		if gctx.Err() != nil {
			break
		}
		dst := path.Join(staging, s.rel)
		if s.replace || s.op == "remove" {
			if err := t.Remove(ctx, dst, true); err != nil && kernel.KindOf(err) != kernel.NotExist {
				g.Wait()
				return p.res, err
			}
		}
		switch s.op {
		case "mkdir":
			if err := t.Mkdir(ctx, dst, s.mode, false); err != nil && kernel.KindOf(err) != kernel.Exist { // Exist: made by an interrupted sync
				g.Wait()
				return p.res, err
			}
		case "symlink":
			if err := t.Symlink(ctx, s.target, dst); err != nil {
				g.Wait()
				return p.res, err
			}
		case "send":
			if s.from != "" {
				links = append(links, s)
				continue
			}
			send(s)
		}
	}
	// The content already in the tree: referenced, many files a request,
	// once the directories are made. What has gone meanwhile is sent.
	for len(links) > 0 && gctx.Err() == nil {
		batch := links[:min(len(links), linkBatch)]
		links = links[len(batch):]
		pairs := make([]api.LinkPair, len(batch))
		for i, s := range batch {
			pairs[i] = api.LinkPair{From: s.from, To: path.Join(staging, s.rel)}
		}
		missing, err := t.Link(gctx, pairs)
		if err != nil {
			g.Wait()
			return p.res, err
		}
		for _, i := range missing {
			if i < 0 || i >= len(batch) {
				continue
			}
			mu.Lock()
			p.res.Linked--
			p.res.Uploaded++
			p.res.Bytes += batch[i].size
			mu.Unlock()
			send(batch[i])
		}
	}
	flush()
	for _, s := range large {
		if gctx.Err() != nil {
			break
		}
		stream(s)
	}
	return p.res, g.Wait()
}

// linkBatch is how many files one link request references.
const linkBatch = 1000

// link finds, for the files about to be sent, the same content already in
// the tree, and marks those sends as clones of it, so that it does not
// travel again (the database stores each block once whoever sends it). The
// tree compared against (the live site: a moved or copied file) is always a
// source, at no cost; with across, the other sites' live trees and this
// site's past deploys too when there is much to send: their manifest costs
// about 7 us a file on the server, which pays over a slow link, not through
// the local socket. The manifest answered is filtered by the client's
// access, so a token learns nothing of content it could not read anyway.
func (p *syncPlan) link(ctx context.Context, t Tree, site string, sums *digests, across bool) error {
	staging := stagingPath(site)
	var toSend int64
	for _, s := range p.steps {
		if s.op == "send" {
			toSend += s.size
		}
	}
	if toSend == 0 {
		return nil
	}
	type where struct {
		path string
		mode fs.FileMode
	}
	known := map[string][]where{}
	add := func(root string, e api.Sum) {
		mode := kernel.FileMode(e.Mode)
		full := path.Join(root, e.Path)
		if !mode.IsRegular() || full == staging || strings.HasPrefix(full, staging+"/") {
			return // the copy being changed is no source
		}
		known[string(e.Digest)] = append(known[string(e.Digest)], where{full, mode.Perm()})
	}
	for _, e := range p.have {
		add(p.there, e)
	}
	if across && toSend >= linkAllFrom {
		// The live sites, and this site's own past deploys (an old version
		// deployed again); not the other sites' past deploys, which mostly
		// hold what their live trees hold and would multiply the cost, nor
		// the copies being made.
		for _, root := range []struct {
			dir  string
			skip []string
		}{{"/fs", []string{".deploys", ".staging"}}, {historyDir(site), nil}} {
			m, err := t.Sums(ctx, root.dir, root.skip...)
			switch {
			case err == nil:
				for _, e := range m.Entries {
					add(root.dir, e)
				}
				if m.BlockSize > 0 { // the site may not exist yet: plan assumed
					p.bs = m.BlockSize
				}
			case kernel.KindOf(err) != kernel.NotExist && kernel.KindOf(err) != kernel.Permission:
				return err
			}
		}
	}
	if len(known) == 0 {
		return nil // nothing to compare with: no file is read for it
	}
	for i := range p.steps {
		s := &p.steps[i]
		if s.op != "send" || s.size == 0 {
			continue
		}
		d, err := sums.of(local{rel: s.rel, size: s.size, stamp: s.stamp}, p.bs)
		if err != nil {
			return err
		}
		for _, w := range known[string(d)] {
			if w.mode == s.mode {
				s.from = w.path
				p.res.Uploaded--
				p.res.Bytes -= s.size
				p.res.Linked++
				break
			}
		}
	}
	return nil
}

// linkAllFrom is how much there must be to send before the other sites
// and the site's past deploys are looked at for content to link to.
const linkAllFrom = 4 << 20

// uploaders is how many requests of files travel at once.
const uploaders = 4

// Files of at most smallFile bytes travel together, up to batchFiles files
// or batchBytes bytes a request.
const (
	smallFile  = 1 << 20
	batchFiles = 1000
	batchBytes = 4 << 20
)

func under(p string, removed map[string]bool) bool {
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if removed[d] {
			return true
		}
	}
	return false
}

// Upload writes the local file src to the file dst of the tree.
func Upload(ctx context.Context, t Tree, src, dst string, perm fs.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return Put(ctx, t, dst, f, perm)
}

// Put writes what r holds to the file p of the tree; it is all there, at
// once, when Put returns.
func Put(ctx context.Context, t Tree, p string, r io.Reader, perm fs.FileMode) error {
	w, err := t.Create(ctx, p, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// digest is the tree's digest of a local file: SHA-256 over the SHA-256 of
// each block of bs bytes. buf is reused from call to call.
func digest(p string, bs int64, buf *[]byte) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if int64(len(*buf)) != bs {
		*buf = make([]byte, bs)
	}
	all := sha256.New()
	for {
		n, err := io.ReadFull(f, *buf)
		if n > 0 {
			s := sha256.Sum256((*buf)[:n])
			all.Write(s[:])
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return all.Sum(nil), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// scan lists src, without what .gitignore and .faztignore (at its root)
// exclude, nor .git.
func scan(src string) ([]local, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, kernel.E(kernel.NotDir, src+" is not a directory")
	}
	var rules []string
	for _, name := range []string{".gitignore", ".faztignore"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err == nil {
			rules = append(rules, strings.Split(string(b), "\n")...)
			rules = append(rules, name)
		}
	}
	ign := ignore.CompileIgnoreLines(rules...)
	var out []local
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if d.Name() == ".git" || ign.MatchesPath(rel) || (d.IsDir() && ign.MatchesPath(rel+"/")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		l := local{rel: rel, mode: info.Mode(), size: info.Size(), stamp: stampOf(info)}
		if info.Mode()&fs.ModeSymlink != 0 {
			l.target, _ = os.Readlink(p)
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

func validSite(site string) error {
	ok := site != "" && len(site) <= 63
	for i := 0; ok && i < len(site); i++ {
		c := site[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return kernel.E(kernel.Invalid, fmt.Sprintf("bad site name %q: a-z, 0-9, '.', '_', '-', starting with a letter or digit", site))
	}
	return nil
}

// newID names a deploy by when it went live.
func newID() string { return time.Now().UTC().Format("20060102T150405.000Z") }
