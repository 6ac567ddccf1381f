package litestream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	upstream "github.com/benbjohnson/litestream"

	"github.com/fazt-sh/fazt/kernel"
)

// A primary replicating to S3 writes under the replica's lease (Lease):
// its term. The kernel takes the lease before the child starts, renews it
// every third of its TTL and writes, in the data directory, until when
// the child may write (the lease's expiry less a margin: leaseRecord). The
// child refuses every upload and deletion past that time (fencedClient),
// so a kernel that stops renewing (dead, paused, cut off) stops writing to
// the replica before anyone may take the lease over: a standby waits for
// the expiry plus the same margin. A kernel whose renewal is refused
// because another machine took the lease is deposed: its child stops, its
// database refuses writes (storage.DB.Depose), and it never takes the
// lease again by itself (a later generation than the one it held is
// another machine's history).

// leaseMargin is the room left on both sides of a lease's expiry: the
// holder's child stops writing this long before it, a standby takes over
// this long after it. It covers the clocks of the two machines differing
// and a renewal's round trip.
func leaseMargin(ttl time.Duration) time.Duration { return ttl / 6 }

// leaseRecord is what the data directory keeps of its term: the lease
// generation it last held (the check that it was not deposed) and until
// when its child may write to the replica.
type leaseRecord struct {
	Generation  int64     `json:"generation"`
	Owner       string    `json:"owner,omitempty"`
	ExpiresAt   time.Time `json:"expires_at"`
	WritesUntil time.Time `json:"writes_until"`
	Replica     string    `json:"replica,omitempty"`
}

// LeaseFile is the data directory's lease record.
func LeaseFile(dataDir string) string { return filepath.Join(dataDir, "litestream", "lease") }

func readLeaseRecord(path string) (leaseRecord, error) {
	var r leaseRecord
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}

func writeLeaseRecord(path string, r leaseRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writePrivate(path, string(b)+"\n")
}

// TermStatus is where this machine stands with the replica's lease.
type TermStatus struct {
	State      string    // taking (not yet), holding, waiting (another holds it), deposed; "" without a lease
	Owner      string    // the lease's holder as last seen
	Generation int64     // its generation
	ExpiresAt  time.Time // its expiry
	LastError  string    // the last failure to take or renew it
}

// term takes and keeps the lease of one configuration and runs its child
// while it holds it.
type term struct {
	d     *Driver
	cfg   config
	lease *Lease
	ttl   time.Duration
	held  *upstream.Lease // set before the loop starts (a standby's), else nil

	quit chan struct{}
	done chan struct{}

	mu     sync.Mutex // guards status and sup
	status TermStatus
	sup    *supervisor
}

func (t *term) start() { go t.loop() }

func (t *term) stop() {
	close(t.quit)
	<-t.done
}

func (t *term) Status() TermStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

func (t *term) note(f func(*TermStatus)) {
	t.mu.Lock()
	f(&t.status)
	t.mu.Unlock()
}

// errDeposed says a later generation of the lease is another machine's.
type errDeposed struct{ cur *upstream.Lease }

func (e *errDeposed) Error() string {
	return fmt.Sprintf("%s holds the replica's lease (generation %d)", e.cur.Owner, e.cur.Generation)
}

func (t *term) loop() {
	defer close(t.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-t.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer t.stopChild(false)
	held := t.held
	for {
		wait := t.ttl / 3
		if held == nil {
			l, err := t.take(ctx)
			var dep *errDeposed
			switch {
			case errors.As(err, &dep):
				t.depose(dep.cur)
				return
			case err != nil:
				t.failed(err)
				wait = min(wait, time.Second)
			default:
				held = l
			}
		} else {
			l, err := t.lease.Renew(ctx, held)
			switch {
			case errors.Is(err, ErrLeaseLost):
				cur, rerr := t.lease.Read(ctx)
				if rerr == nil && cur != nil && cur.Owner == t.d.opt.Owner {
					// Another kernel of this machine (an upgrade's
					// successor) renewed it: the term goes on.
					held = cur
					break
				}
				if cur == nil {
					cur = &upstream.Lease{Owner: "nobody", Generation: held.Generation}
				}
				t.depose(cur)
				return
			case err != nil:
				// Not renewed: the child stops writing at the record's
				// time by itself. Try again soon.
				t.failed(err)
				wait = min(wait, time.Second)
			default:
				held = l
			}
		}
		if held != nil && ctx.Err() == nil {
			if err := t.record(held); err != nil {
				t.failed(err)
			} else {
				t.startChild()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// take takes the lease for a term of this machine: free, or this
// machine's (a restart), or expired in the generation this data directory
// held last. A later generation is another machine's history: deposed.
func (t *term) take(ctx context.Context) (*upstream.Lease, error) {
	cur, err := t.lease.Read(ctx)
	if err != nil {
		return nil, err
	}
	if cur != nil && cur.Owner != t.d.opt.Owner {
		rec, err := readLeaseRecord(LeaseFile(t.d.opt.DataDir))
		if err != nil {
			return nil, err
		}
		if cur.Generation > rec.Generation {
			return nil, &errDeposed{cur}
		}
		if !time.Now().After(cur.ExpiresAt.Add(leaseMargin(t.ttl))) {
			return nil, &ErrLeaseHeld{Owner: cur.Owner, ExpiresAt: cur.ExpiresAt}
		}
	}
	return t.lease.Acquire(ctx)
}

// record writes the data directory's record of a held lease.
func (t *term) record(l *upstream.Lease) error {
	if err := recordLease(t.d.opt.DataDir, t.cfg.url, t.ttl, l); err != nil {
		return err
	}
	t.note(func(st *TermStatus) {
		if st.State != "holding" {
			t.d.opt.Log.Info("litestream: holding the replica's lease", "generation", l.Generation, "owner", l.Owner, "until", l.ExpiresAt)
		}
		*st = TermStatus{State: "holding", Owner: l.Owner, Generation: l.Generation, ExpiresAt: l.ExpiresAt}
	})
	return nil
}

// recordLease writes dataDir's record of the held lease l of the replica
// at url: the child writes until its expiry less the margin.
func recordLease(dataDir, url string, ttl time.Duration, l *upstream.Lease) error {
	err := writeLeaseRecord(LeaseFile(dataDir), leaseRecord{Generation: l.Generation, Owner: l.Owner,
		ExpiresAt: l.ExpiresAt, WritesUntil: l.ExpiresAt.Add(-leaseMargin(ttl)), Replica: redact(url)})
	if err != nil {
		return fmt.Errorf("record the lease: %w", err)
	}
	return nil
}

func (t *term) failed(err error) {
	var held *ErrLeaseHeld
	t.note(func(st *TermStatus) {
		if errors.As(err, &held) {
			if st.State != "waiting" || st.Owner != held.Owner {
				t.d.opt.Log.Warn("litestream: not replicating: another machine holds the replica's lease; waiting for it to expire",
					"owner", held.Owner, "until", held.ExpiresAt)
			}
			st.State, st.Owner, st.ExpiresAt = "waiting", held.Owner, held.ExpiresAt
		}
		if st.LastError != err.Error() {
			t.d.opt.Log.Warn("litestream: lease", "err", err)
		}
		st.LastError = err.Error()
	})
}

// depose ends this machine's term: the child's writes end first (the
// record says so before it stops), then the database refuses writes.
func (t *term) depose(cur *upstream.Lease) {
	path := LeaseFile(t.d.opt.DataDir)
	rec, _ := readLeaseRecord(path)
	rec.WritesUntil, rec.ExpiresAt = time.Time{}, time.Time{}
	if err := writeLeaseRecord(path, rec); err != nil {
		t.d.opt.Log.Error("litestream: cannot record the lost lease", "err", err)
	}
	why := fmt.Sprintf("this fazt is no longer the primary: %s took the lease of %s (generation %d) and writes to it now; "+
		"make this machine an edge or standby of it from a fresh data directory (docs/scaling.md)", cur.Owner, redact(t.cfg.url), cur.Generation)
	t.d.opt.DB.Depose(t.cfg.url, why)
	t.stopChild(true)
	t.d.opt.Log.Error("litestream: deposed: writes are refused", "owner", cur.Owner, "generation", cur.Generation, "replica", redact(t.cfg.url))
	t.note(func(st *TermStatus) {
		st.State, st.Owner, st.Generation, st.ExpiresAt = "deposed", cur.Owner, cur.Generation, cur.ExpiresAt
	})
}

func (t *term) startChild() {
	t.mu.Lock()
	if t.sup != nil {
		t.mu.Unlock()
		return
	}
	s := newSupervisor(t.d, t.cfg)
	s.lease = LeaseFile(t.d.opt.DataDir)
	t.sup = s
	t.mu.Unlock()
	t.d.setSup(s)
	s.start()
}

// stopChild stops the term's child; hard kills it (nothing it has may
// reach the replica).
func (t *term) stopChild(hard bool) {
	t.mu.Lock()
	s := t.sup
	t.sup = nil
	t.mu.Unlock()
	if s != nil {
		t.d.setSup(nil)
		s.hard.Store(hard)
		s.stop()
	}
}

// InheritLease records the current generation of the lease of the replica
// at url as the one dataDir held last: a database restored from the
// replica continues its history, and may take the lease once it expires.
// Nothing is recorded for replicas without a lease.
func InheritLease(ctx context.Context, url, dataDir string) error {
	l, err := OpenLease(url, dataDir, "", 0)
	if kernel.KindOf(err) == kernel.NotSupported {
		return nil
	}
	if err != nil {
		return err
	}
	cur, err := l.Read(ctx)
	if err != nil || cur == nil {
		return err
	}
	path := LeaseFile(dataDir)
	rec, err := readLeaseRecord(path)
	if err != nil {
		return err
	}
	if rec.Generation >= cur.Generation {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeLeaseRecord(path, leaseRecord{Generation: cur.Generation, Replica: redact(url)})
}
