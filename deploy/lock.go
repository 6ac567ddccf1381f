package deploy

import (
	"context"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// One deploy of a site at a time: a lock directory in the site's history,
// made with mkdir (which fails if it exists, atomically, locally and
// through the API alike). A deploy that holds it touches its owner file
// every beat; a lock not touched for staleAfter was left by a deploy that
// died (a killed CI job) and is taken over, so an interrupted deploy can
// be resumed without help.
const (
	beat       = 20 * time.Second
	staleAfter = 2 * time.Minute
)

func lockDir(site string) string { return historyDir(site) + "/.lock" }

// lock takes the site's deploy lock and returns its release.
func lock(ctx context.Context, t Tree, site, who string) (func(), error) {
	if _, err := t.Stat(ctx, historyDir(site)); kernel.KindOf(err) == kernel.NotExist {
		if err := t.Mkdir(ctx, historyDir(site), 0o755, false); err != nil && kernel.KindOf(err) != kernel.Exist {
			return nil, err
		}
	}
	dir := lockDir(site)
	owner := path.Join(dir, "owner")
	err := t.Mkdir(ctx, dir, 0o755, false)
	if kernel.KindOf(err) == kernel.Exist {
		fi, serr := t.Stat(ctx, owner)
		by, _ := readSmall(ctx, t, owner)
		if serr == nil && time.Since(fi.ModTime()) < staleAfter && !deadHere(by) {
			return nil, kernel.E(kernel.Busy, fmt.Sprintf("another deploy of %s is running (%s); wait for it", site, trimNL(by)))
		}
		// Stale (or never finished being made): take it over.
		err = nil
	}
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	since := time.Now().UTC().Format(time.RFC3339)
	touch := func() error {
		return writeSmall(ctx, t, owner, fmt.Sprintf("%s since %s pid %d host %s\n", who, since, os.Getpid(), host))
	}
	if err := touch(); err != nil {
		// Half a lock (a directory without its owner, on a full disk
		// say) would hold every deploy off until it went stale.
		t.Remove(context.WithoutCancel(ctx), dir, true)
		return nil, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(beat):
				touch()
			}
		}
	}()
	return func() {
		close(stop)
		wg.Wait()
		t.Remove(context.WithoutCancel(ctx), dir, true)
	}, nil
}

// deadHere says whether a lock's owner was a process of this machine that
// is gone (a deploy killed here can be resumed at once).
func deadHere(owner string) bool {
	f := strings.Fields(owner)
	var pid int
	var host string
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "pid":
			pid, _ = strconv.Atoi(f[i+1])
		case "host":
			host = f[i+1]
		}
	}
	me, _ := os.Hostname()
	return pid > 0 && host == me && syscall.Kill(pid, 0) == syscall.ESRCH
}

func trimNL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
