package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"
)

// WebDAV locks. golang.org/x/net/webdav's in-memory lock system serves
// them, with three changes:
//
//   - Its own per-request locks (the handler takes one on the paths each
//     write touches, to find clients' locks in the way) are only probes
//     here: they fail when a client's lock is in the way and are given
//     back at once, so two requests never collide over them (rclone's
//     parallel uploads making the same directory got 423 from each other
//     when nobody held a lock).
//   - Tokens are random (the library numbers them 1, 2, 3, so anyone could
//     release anyone's lock).
//   - A client's lock lasts at most maxDAVLock and there are at most
//     maxDAVLocks of them: an abandoned or hostile lock goes by itself.
//
// Who may lock is the kernel's decision: LOCK and UNLOCK need Write at
// the path (see Handler.ServeHTTP), so a lock is never above its holder's
// scope and a reader cannot lock anything.
const (
	maxDAVLock  = time.Hour
	maxDAVLocks = 10000
)

// requestLock is the token of every per-request probe.
const requestLock = "fazt:request"

type davLocks struct {
	mu    sync.Mutex // guards the fields below and orders the calls to inner
	inner webdav.LockSystem
	ours  map[string]davLock // our token -> the lock
}

type davLock struct {
	inner   string
	expires time.Time
}

func newDAVLocks() *davLocks {
	return &davLocks{inner: webdav.NewMemLS(), ours: map[string]davLock{}}
}

var _ webdav.LockSystem = (*davLocks)(nil)

func (l *davLocks) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := make([]webdav.Condition, len(conditions))
	for i, c := range conditions {
		if c.Token != "" {
			if k, ok := l.ours[c.Token]; ok {
				c.Token = k.inner
			} else {
				c.Token = "fazt:unknown" // matches no lock
			}
		}
		cs[i] = c
	}
	release, err := l.inner.Confirm(now, name0, name1, cs...)
	if err != nil {
		return nil, err
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		release()
	}, nil
}

// isProbe tells the handler's per-request locks from clients' LOCKs:
// it asks for infinite time, which Handler.ServeHTTP never lets a client
// ask for.
func isProbe(d webdav.LockDetails) bool {
	return d.Duration < 0 && d.ZeroDepth && d.OwnerXML == ""
}

func (l *davLocks) Create(now time.Time, d webdav.LockDetails) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if isProbe(d) {
		t, err := l.inner.Create(now, d)
		if err != nil {
			return "", err
		}
		l.inner.Unlock(now, t)
		return requestLock, nil
	}
	if d.Duration <= 0 || d.Duration > maxDAVLock {
		d.Duration = maxDAVLock
	}
	if len(l.ours) >= maxDAVLocks {
		for t, k := range l.ours {
			if !now.Before(k.expires) {
				delete(l.ours, t)
			}
		}
		if len(l.ours) >= maxDAVLocks {
			return "", webdav.ErrLocked
		}
	}
	t, err := l.inner.Create(now, d)
	if err != nil {
		return "", err
	}
	b := make([]byte, 16)
	rand.Read(b)
	ours := "opaquelocktoken:" + hex.EncodeToString(b)
	l.ours[ours] = davLock{inner: t, expires: now.Add(d.Duration)}
	return ours, nil
}

func (l *davLocks) Refresh(now time.Time, token string, d time.Duration) (webdav.LockDetails, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.ours[token]
	if !ok {
		return webdav.LockDetails{}, webdav.ErrNoSuchLock
	}
	if d <= 0 || d > maxDAVLock {
		d = maxDAVLock
	}
	ld, err := l.inner.Refresh(now, k.inner, d)
	if err != nil {
		delete(l.ours, token)
		return ld, err
	}
	k.expires = now.Add(d)
	l.ours[token] = k
	return ld, nil
}

func (l *davLocks) Unlock(now time.Time, token string) error {
	if token == requestLock {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.ours[token]
	if !ok {
		return webdav.ErrNoSuchLock
	}
	delete(l.ours, token)
	return l.inner.Unlock(now, k.inner)
}

// boundTimeout rewrites a LOCK request's Timeout header to at most
// maxDAVLock (a missing or "Infinite" one too): the lock system then
// tells clients' locks from its own probes by their time.
func boundTimeout(r *http.Request) {
	max := int(maxDAVLock / time.Second)
	secs := max
	for _, t := range strings.Split(r.Header.Get("Timeout"), ",") {
		if n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(t), "Second-")); err == nil && n > 0 && n < max {
			secs = n
			break
		}
	}
	r.Header.Set("Timeout", "Second-"+strconv.Itoa(secs))
}
