package deploy

import (
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// A site's history directory holds a tree per past deploy, named by its
// id, a status file per deploy (ID.status: the live one's too), and .live
// (the id of the live deploy), .log (a line per deploy and rollback) and
// .keep (the retention setting).
func liveFile(site string) string { return historyDir(site) + "/.live" }
func logFile(site string) string  { return historyDir(site) + "/.log" }
func keepFile(site string) string { return historyDir(site) + "/.keep" }
func statusFile(site, id string) string {
	return historyDir(site) + "/" + id + ".status"
}

// status is the text of a deploy's status file: its state (live or past)
// on the first line, then what the deploy did, a "key value" a line.
func status(id, who string, res Result) string {
	return fmt.Sprintf("state live\nid %s\ntime %s\nby %s\nfiles %d\nsent %d\nbytes %d\nlinked %d\nunchanged %d\nremoved %d\ndirs %d\n",
		id, time.Now().UTC().Format(time.RFC3339), who, res.Files, res.Uploaded, res.Bytes, res.Linked, res.Unchanged, res.Removed, res.Dirs)
}

// Status returns the fields of a deploy's status file ("state", "id",
// "time", "by", "files", "sent", "bytes", "linked", "unchanged",
// "removed", "dirs"); none for a deploy without one.
func Status(ctx context.Context, t Tree, site, id string) (map[string]string, error) {
	if err := validSite(site); err != nil {
		return nil, err
	}
	s, err := readSmall(ctx, t, statusFile(site, id))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			out[k] = v
		}
	}
	return out, nil
}

// setState rewrites the state line of a deploy's status file. A deploy
// without one (a tree put there by hand, or deployed by an older fazt) is
// left alone.
func setState(ctx context.Context, t Tree, site, id, state string) error {
	s, err := readSmall(ctx, t, statusFile(site, id))
	if err != nil || s == "" {
		return err
	}
	_, rest, _ := strings.Cut(s, "\n")
	return writeSmall(ctx, t, statusFile(site, id), "state "+state+"\n"+rest)
}

// Keep is how many past deploys the site keeps: its setting (SetKeep), or
// DefaultKeep.
func Keep(ctx context.Context, t Tree, site string) (int, error) {
	if err := validSite(site); err != nil {
		return 0, err
	}
	s, err := readSmall(ctx, t, keepFile(site))
	if err != nil || strings.TrimSpace(s) == "" {
		return DefaultKeep, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return DefaultKeep, nil // a hand-edited value that makes no sense
	}
	return n, nil
}

// SetKeep sets how many past deploys the site keeps (at least 1), kept in
// /fs/.deploys/SITE/.keep, and removes those beyond it now.
func SetKeep(ctx context.Context, t Tree, site string, n int) error {
	if err := validSite(site); err != nil {
		return err
	}
	ctx = confined(ctx, site)
	if n < 1 {
		return kernel.E(kernel.Invalid, fmt.Sprintf("keep %d: at least 1 past deploy is kept (the one rollback goes to)", n))
	}
	if err := t.Mkdir(ctx, historyDir(site), 0o755, true); err != nil && kernel.KindOf(err) != kernel.Exist {
		return err
	}
	if err := writeSmall(ctx, t, keepFile(site), strconv.Itoa(n)+"\n"); err != nil {
		return err
	}
	return prune(ctx, t, site, n)
}

// known fails with NotExist unless site has a live tree or a history.
func known(ctx context.Context, t Tree, site string) error {
	for _, p := range []string{SitePath(site), historyDir(site)} {
		_, err := t.Stat(ctx, p)
		if err == nil {
			return nil
		}
		if kernel.KindOf(err) != kernel.NotExist {
			return err
		}
	}
	return kernel.E(kernel.NotExist, "no site "+site+" (nothing was deployed to /fs/"+site+")")
}

func readSmall(ctx context.Context, t Tree, p string) (string, error) {
	r, err := t.Open(ctx, p)
	if kernel.KindOf(err) == kernel.NotExist {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	return string(b), err
}

func writeSmall(ctx context.Context, t Tree, p, s string) error {
	return Put(ctx, t, p, strings.NewReader(s), 0o644)
}

// Live returns the id of the site's live deploy, "" if it was never
// deployed with fazt. The record is written by whoever may write the
// site, so it is data, not authority: a value that is not a deploy id is
// taken as no record (the live tree is then kept as "before-ID").
func Live(ctx context.Context, t Tree, site string) (string, error) {
	s, err := readSmall(ctx, t, liveFile(site))
	if id := strings.TrimSpace(s); err == nil && validID(id) {
		return id, nil
	}
	return "", err
}

// validID says whether id names a deploy: newID's form, or "before-" and
// it (the tree that deploy replaced). Ids read from the tree are used as
// path names only once they pass.
func validID(id string) bool {
	id = strings.TrimPrefix(id, "before-")
	if len(id) != len("20060102T150405.000Z") {
		return false
	}
	_, err := time.Parse("20060102T150405.000Z", id)
	return err == nil
}

func logLine(ctx context.Context, t Tree, site, line string) error {
	old, err := readSmall(ctx, t, logFile(site))
	if err != nil {
		return err
	}
	return writeSmall(ctx, t, logFile(site), old+time.Now().UTC().Format(time.RFC3339)+" "+line+"\n")
}

// commit swaps the staging tree in, keeps the replaced one as a past
// deploy, and records the new one.
func commit(ctx context.Context, t Tree, site string, hadLive bool, opt Options, res Result) (string, error) {
	id := newID()
	hist := historyDir(site)
	if _, err := t.Stat(ctx, hist); kernel.KindOf(err) == kernel.NotExist {
		if err := t.Mkdir(ctx, hist, 0o755, false); err != nil {
			return "", err
		}
	}
	old, err := Live(ctx, t, site)
	if err != nil {
		return "", err
	}
	if hadLive {
		if old == "" {
			old = "before-" + id // a tree put there without fazt deploy
		}
		// One step: visitors see the old tree or the new one.
		if err := t.Exchange(ctx, stagingPath(site), SitePath(site)); err != nil {
			return "", err
		}
		if err := t.Rename(ctx, stagingPath(site), path.Join(hist, old)); err != nil {
			return id, err
		}
	} else if err := t.Rename(ctx, stagingPath(site), SitePath(site)); err != nil {
		return "", err
	}
	if err := writeSmall(ctx, t, liveFile(site), id+"\n"); err != nil {
		return id, err
	}
	who := opt.Who
	if who == "" {
		who = "-"
	}
	if err := writeSmall(ctx, t, statusFile(site, id), status(id, who, res)); err != nil {
		return id, err
	}
	if hadLive {
		if err := setState(ctx, t, site, old, "past"); err != nil {
			return id, err
		}
	}
	if err := logLine(ctx, t, site, fmt.Sprintf("deploy %s files %d sent %d bytes %d linked %d removed %d by %s", id, res.Files, res.Uploaded, res.Bytes, res.Linked, res.Removed, who)); err != nil {
		return id, err
	}
	keep := opt.Keep
	if keep <= 0 {
		var err error
		if keep, err = Keep(ctx, t, site); err != nil {
			return id, err
		}
	}
	return id, prune(ctx, t, site, keep)
}

// Past lists the site's past deploys, oldest first.
func Past(ctx context.Context, t Tree, site string) ([]string, error) {
	infos, err := t.ReadDir(ctx, historyDir(site))
	if kernel.KindOf(err) == kernel.NotExist {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, fi := range infos {
		if fi.IsDir() && validID(fi.Name()) {
			ids = append(ids, fi.Name())
		}
	}
	sort.Slice(ids, func(i, j int) bool { return order(ids[i]) < order(ids[j]) })
	return ids, nil
}

// order sorts ids by time: "before-ID" names the tree that ID replaced.
func order(id string) string {
	if t, ok := strings.CutPrefix(id, "before-"); ok {
		return t + "0"
	}
	return id + "1"
}

// prune removes the oldest past deploys beyond keep. Content shared with
// other trees stays (chunks are counted).
func prune(ctx context.Context, t Tree, site string, keep int) error {
	ids, err := Past(ctx, t, site)
	if err != nil {
		return err
	}
	for len(ids) > keep {
		if err := t.Remove(ctx, path.Join(historyDir(site), ids[0]), true); err != nil {
			return err
		}
		if err := t.Remove(ctx, statusFile(site, ids[0]), false); err != nil && kernel.KindOf(err) != kernel.NotExist {
			return err
		}
		ids = ids[1:]
	}
	return nil
}

// Rollback makes the past deploy id live again (the newest past one when
// id is ""), in one step; the tree it replaces becomes a past deploy.
func Rollback(ctx context.Context, t Tree, site, id, who string) (string, error) {
	if err := validSite(site); err != nil {
		return "", err
	}
	ctx = confined(ctx, site)
	// Before the lock: a site never deployed gets no history directory.
	if err := known(ctx, t, site); err != nil {
		return "", err
	}
	// Not while a deploy of the site runs: its switch would keep the
	// rolled-back tree as a past deploy.
	unlock, err := lock(ctx, t, site, who)
	if err != nil {
		return "", err
	}
	defer unlock()
	ids, err := Past(ctx, t, site)
	if err != nil {
		return "", err
	}
	if id == "" {
		if len(ids) == 0 {
			return "", kernel.E(kernel.NotExist, "no past deploy of "+site+" to roll back to")
		}
		id = ids[len(ids)-1]
	} else if !contains(ids, id) {
		return "", kernel.E(kernel.NotExist, fmt.Sprintf("no past deploy %s of %s (fazt deploy ls %s)", id, site, site))
	}
	cur, err := Live(ctx, t, site)
	if err != nil {
		return "", err
	}
	if cur == "" {
		cur = "before-" + newID()
	}
	p := path.Join(historyDir(site), id)
	if err := t.Exchange(ctx, p, SitePath(site)); err != nil {
		return "", err
	}
	if err := t.Rename(ctx, p, path.Join(historyDir(site), cur)); err != nil {
		return id, err
	}
	if err := writeSmall(ctx, t, liveFile(site), id+"\n"); err != nil {
		return id, err
	}
	if err := setState(ctx, t, site, id, "live"); err != nil {
		return id, err
	}
	if err := setState(ctx, t, site, cur, "past"); err != nil {
		return id, err
	}
	return id, logLine(ctx, t, site, "rollback "+id+" replacing "+cur)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
