package litestream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	upstream "github.com/benbjohnson/litestream"

	"github.com/fazt-sh/fazt/failpoint"
)

// A standby is a follower that takes the primary's place when the
// primary's lease has expired (plus the margin for the clocks): it takes
// the lease (a new generation), applies what reached the replica before
// the primary's child stopped writing, makes its database a primary's,
// and starts replicating under the lease. Only a follower may take a
// lease it did not hold: it holds the replica's latest transaction, so
// nothing the primary replicated is lost.
type standby struct {
	d     *Driver
	url   string
	lease *Lease
	quit  chan struct{}
	done  chan struct{}

	mu     sync.Mutex // guards status
	status TermStatus
}

func (s *standby) stop() {
	close(s.quit)
	<-s.done
}

func (s *standby) Status() TermStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// watch looks at the primary's lease at every follower step, until it
// takes over or stops.
func (s *standby) watch() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(FollowEvery)
	defer t.Stop()
	for {
		if held, c, err := s.look(ctx); err != nil {
			s.mu.Lock()
			if s.status.LastError != err.Error() {
				s.d.opt.Log.Warn("litestream: standby", "err", err)
			}
			s.status.LastError = err.Error()
			s.mu.Unlock()
		} else if held != nil {
			// The driver's Close waits for this goroutine: take over
			// in another, which Close then waits for through cmu.
			go s.d.takeOver(context.WithoutCancel(ctx), s, c, held)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// look reads the primary's lease and takes it if it has expired, with
// the configuration to replicate with.
func (s *standby) look(ctx context.Context) (*upstream.Lease, config, error) {
	cur, err := s.lease.Read(ctx)
	if err != nil {
		return nil, config{}, err
	}
	if cur == nil {
		s.note(TermStatus{State: "standby", Owner: "-"})
		return nil, config{}, errors.New("the replica has no lease: a standby takes over only from a primary that holds one (a fazt that replicates to S3 does)")
	}
	s.note(TermStatus{State: "standby", Owner: cur.Owner, Generation: cur.Generation, ExpiresAt: cur.ExpiresAt})
	// The primary's configuration, as replicated: its TTL sets the
	// margin, its replica is the one to write to.
	c, err := s.d.config(ctx)
	if err != nil {
		return nil, c, err
	}
	if c.url != s.url {
		return nil, c, fmt.Errorf("the primary replicates to %s, this standby follows %s: it takes over only the replica it follows", redact(c.url), redact(s.url))
	}
	if !time.Now().After(cur.ExpiresAt.Add(leaseMargin(c.leaseTTL))) {
		return nil, c, nil
	}
	s.lease.leaser.TTL = c.leaseTTL
	l, err := s.lease.Acquire(ctx)
	var held *ErrLeaseHeld
	if errors.As(err, &held) {
		return nil, c, nil // renewed meanwhile, or another standby won
	}
	return l, c, err
}

func (s *standby) note(st TermStatus) {
	s.mu.Lock()
	st.LastError = s.status.LastError
	s.status = st
	s.mu.Unlock()
}

// takeOver makes this standby the primary under the lease it took.
func (d *Driver) takeOver(ctx context.Context, s *standby, c config, l *upstream.Lease) {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	d.mu.Lock()
	if d.standby != s || !d.started {
		d.mu.Unlock()
		return // closed meanwhile; the lease expires unused
	}
	d.standby = nil
	f := d.follower
	d.follower = nil
	d.mu.Unlock()
	start := time.Now()
	d.opt.Log.Warn("litestream: the primary's lease expired: taking over", "generation", l.Generation, "replica", redact(c.url))
	failpoint.Hit("takeover.leased")
	// What reached the replica before the primary's child stopped.
	f.Close()
	if _, err := f.Step(ctx); err != nil {
		d.opt.Log.Warn("litestream: take over: the last look at the replica failed", "err", err)
	}
	if d.opt.Applied != nil {
		d.opt.Applied(f.Applied())
	}
	if err := d.becomePrimary(ctx, c, l); err != nil {
		d.opt.Log.Error("litestream: take over failed; the lease expires unused", "err", err)
		return
	}
	d.opt.Log.Warn("litestream: took over: this fazt is the primary", "generation", l.Generation, "applied_txid", f.Applied(), "in", time.Since(start))
}

// becomePrimary records the lease, makes the database take writes, tells
// the kernel, and replicates under the lease with fresh Litestream state
// (the first upload is a snapshot of the database as it is). The order
// keeps a kill at any point safe: before the kernel forgets that it
// follows, a restart is a standby again (and takes the lease again, once
// it expires); after, a primary whose data directory holds the lease's
// generation and is bound to the replica.
func (d *Driver) becomePrimary(ctx context.Context, c config, l *upstream.Lease) error {
	if err := recordLease(d.opt.DataDir, c.url, c.leaseTTL, l); err != nil {
		return err
	}
	failpoint.Hit("takeover.recorded")
	if err := Bind(d.opt.DataDir, c.url); err != nil {
		return err
	}
	if err := os.RemoveAll(d.meta); err != nil {
		return err
	}
	failpoint.Hit("takeover.bound")
	d.opt.DB.Promote()
	var err error
	if d.opt.Promoted != nil {
		err = d.opt.Promoted(ctx)
	}
	failpoint.Hit("takeover.promoted")
	if err != nil {
		// Serving as the primary all the same (the lease is held); a
		// restart is a standby again, which follows from its position.
		d.opt.Log.Error("litestream: take over: the kernel did not follow", "err", err)
	} else {
		os.Remove(FollowTXIDPath(d.opt.DB.Path()))
	}
	return d.begin(c, l)
}
