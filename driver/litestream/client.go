package litestream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// backupTimeout bounds a backup on demand: a sync and a snapshot of the
// whole database to the replica.
const backupTimeout = 30 * time.Minute

// call asks the child; out receives the JSON answer. A failure the child
// reports is Unavailable with its reason; one of reaching it is too.
func (d *Driver) call(ctx context.Context, method, path string, out any) error {
	d.clientOnce.Do(func() {
		// No keep-alives: a connection must not outlive a child that was
		// restarted.
		d.client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dl net.Dialer
				return dl.DialContext(ctx, "unix", d.socket)
			}}}
	})
	req, err := http.NewRequestWithContext(ctx, method, "http://litestream"+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return kernel.E(kernel.Unavailable, "the Litestream child does not answer: "+err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		return kernel.E(kernel.Unavailable, e.Error)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (d *Driver) status(ctx context.Context) (childStatus, error) {
	var st childStatus
	err := d.call(ctx, http.MethodGet, "/status", &st)
	return st, err
}

// ready returns the supervisor once its child serves: NotSupported without
// a replica, Unavailable when it does not come up in time.
func (d *Driver) ready(ctx context.Context) (*supervisor, error) {
	if t := d.Term(); t.State == "deposed" {
		return nil, kernel.E(kernel.NotPrimary, fmt.Sprintf("this fazt is no longer the primary: %s holds the lease of the replica (generation %d)", t.Owner, t.Generation))
	}
	if url := d.opt.DB.Follows(); url != "" {
		return nil, kernel.E(kernel.NotPrimary, "this fazt is a follower of "+redact(url)+": backups are taken on the primary")
	}
	// A CLI without a kernel starts the child for what it asks.
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	if err := d.leaseHeld(ctx); err != nil {
		return nil, err
	}
	s := d.current()
	if s == nil {
		c, err := d.config(ctx)
		if err != nil {
			return nil, err
		}
		if c.paused {
			return nil, kernel.E(kernel.Unavailable, fmt.Sprintf("replication to %s is paused: this database was restored or copied into this data directory; to replicate to it, write its URL again (fazt driver litestream replica add %s URL)", c.name, c.name))
		}
		return nil, kernel.E(kernel.NotSupported, "no replica is configured: add one with echo URL > /driver/litestream/replicas/NAME (s3://BUCKET/PATH or file:///PATH)")
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !s.wait(wctx) {
		s.mu.Lock()
		why := s.lastExit
		s.mu.Unlock()
		if why == "" {
			why = "still starting"
		}
		return nil, kernel.E(kernel.Unavailable, "the Litestream child is not running (last exit "+why+")")
	}
	return s, nil
}

// leaseHeld waits, briefly, while the replica's lease is being taken
// (a configuration change, a start, a take-over) and its child started,
// then says why replication does not run if it does not: the child runs
// only while the lease is held. Nil without a lease.
func (d *Driver) leaseHeld(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		t := d.Term()
		starting := t.State == "taking" && t.LastError == "" || t.State == "holding" && d.current() == nil
		if t.State == "" || t.State == "holding" && !starting {
			return nil
		}
		if !starting || time.Now().After(deadline) || ctx.Err() != nil {
			switch t.State {
			case "holding":
				return kernel.E(kernel.Unavailable, "the Litestream child is still starting")
			case "waiting":
				return kernel.E(kernel.Unavailable, fmt.Sprintf("not replicating: %s holds the replica's lease until %s (another machine replicates to it)", t.Owner, stamp(t.ExpiresAt)))
			}
			why := t.LastError
			if why == "" {
				why = "still taking it"
			}
			return kernel.E(kernel.Unavailable, "not replicating: this machine does not hold the replica's lease: "+why)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Backup commits what is pending, sends every change to the replica and
// takes a snapshot there; it returns once the replica holds it.
func (d *Driver) Backup(ctx context.Context) (Snapshot, error) {
	var snap Snapshot
	s, err := d.ready(ctx)
	if err != nil {
		return snap, err
	}
	if err := d.opt.DB.Commit(ctx); err != nil {
		return snap, err
	}
	ctx, cancel := context.WithTimeout(ctx, backupTimeout)
	defer cancel()
	if err := d.call(ctx, http.MethodPost, "/backup", &snap); err != nil {
		return snap, kernel.E(kernel.KindOf(err), fmt.Sprintf("backup to %s failed: %s", redact(s.cfg.url), reason(err)))
	}
	d.opt.Log.Info("litestream: backup", "txid", snap.TXID, "size", snap.Size, "replica", redact(s.cfg.url))
	return snap, nil
}

// Sync commits what is pending and sends every committed change to the
// replica now; it returns the replica's last transaction once it holds
// them. NotSupported without a replica, NotPrimary on a follower.
func (d *Driver) Sync(ctx context.Context) (uint64, error) {
	s, err := d.ready(ctx)
	if err != nil {
		return 0, err
	}
	if err := d.opt.DB.Commit(ctx); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, backupTimeout)
	defer cancel()
	var snap Snapshot
	if err := d.call(ctx, http.MethodPost, "/sync", &snap); err != nil {
		return 0, kernel.E(kernel.KindOf(err), fmt.Sprintf("sync to %s failed: %s", redact(s.cfg.url), reason(err)))
	}
	return snap.TXID, nil
}

// Checkpoint asks the child for a full checkpoint (storage.WALOwner): it
// holds a read transaction that keeps the kernel's from restarting the WAL.
func (d *Driver) Checkpoint(ctx context.Context) error {
	if _, err := d.ready(ctx); err != nil {
		return err
	}
	return d.call(ctx, http.MethodPost, "/checkpoint", &struct{}{})
}

// Backups lists the replica's restore window and snapshots.
func (d *Driver) Backups(ctx context.Context) (Backups, error) {
	var b Backups
	if _, err := d.ready(ctx); err != nil {
		return b, err
	}
	err := d.call(ctx, http.MethodGet, "/backups", &b)
	return b, err
}

// Health sums the driver up in a few words, for /proc/status: off (no
// replica), paused, running, or down with why. It does not ask the child
// (/driver/litestream/status does, for lag and errors).
func (d *Driver) Health(ctx context.Context) (string, error) {
	if f := d.Follower(); f != nil {
		if st := f.Status(); st.Failing() {
			return "following (error: " + strings.ReplaceAll(st.LastError, "\n", " ") + ")", nil
		}
		return "following", nil
	}
	c, err := d.config(ctx)
	if err != nil {
		return "", err
	}
	switch {
	case c.url == "":
		return "off", nil
	case c.paused:
		return "paused", nil
	}
	s := d.current()
	if s == nil {
		return "down (not started)", nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return "running", nil
	}
	return fmt.Sprintf("down (restarts %d, last exit %s)", s.restarts, dash(s.lastExit)), nil
}

// Status renders /driver/litestream/status: "key value" lines.
func (d *Driver) Status(ctx context.Context) ([]byte, error) {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s %v\n", k, v) }
	creds := "none"
	if d.hasSecret("access_key_id") && d.hasSecret("secret_access_key") {
		creds = "saved"
	} else if d.hasSecret("access_key_id") || d.hasSecret("secret_access_key") {
		creds = "incomplete"
	}
	lease := func(t TermStatus) {
		for _, l := range leaseLines(t) {
			kv(l[0], l[1])
		}
		kv("lease_error", dash(t.LastError))
	}
	if url := d.opt.DB.Follows(); url != "" && d.Term().State != "deposed" {
		kv("role", "follower")
		kv("follows", redact(url))
		kv("credentials", creds)
		d.followStatus(kv)
		if d.opt.Standby {
			kv("standby", "yes")
			lease(d.Standby())
		}
		return []byte(b.String()), nil
	}
	c, err := d.config(ctx)
	if err != nil {
		return nil, err
	}
	if c.url == "" {
		kv("replica", "none")
		kv("running", "no")
		kv("credentials", creds)
		return []byte(b.String()), nil
	}
	kv("replica", c.name+" "+redact(c.url))
	kv("paused", yesNo(c.paused))
	kv("retention", c.retention)
	kv("credentials", creds)
	s := d.current()
	var running bool
	var pid, restarts int
	var since time.Time
	var lastExit string
	if s != nil {
		s.mu.Lock()
		running, pid, since, restarts, lastExit = s.running, s.pid, s.since, s.restarts, s.lastExit
		s.mu.Unlock()
	}
	kv("running", yesNo(running))
	kv("pid", pid)
	kv("since", stamp(since))
	kv("restarts", restarts)
	kv("last_exit", dash(lastExit))
	if t := d.Term(); t.State != "" {
		lease(t)
	}
	var st childStatus
	if running {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err = d.status(qctx)
		cancel()
		if err != nil {
			kv("error", reason(err))
		}
	}
	kv("txid", st.TXID)
	kv("replicated_txid", st.ReplicatedTXID)
	lag := uint64(0)
	if st.TXID > st.ReplicatedTXID {
		lag = st.TXID - st.ReplicatedTXID
	}
	kv("lag", lag)
	kv("last_sync", stamp(st.LastSync))
	// An error counts until a sync succeeds after it.
	lastErr := "-"
	if st.LastError != "" && (st.LastErrorAt.After(st.LastSync) || lag > 0) {
		lastErr = stamp(st.LastErrorAt) + " " + strings.ReplaceAll(st.LastError, "\n", " ")
	}
	kv("last_error", lastErr)
	return []byte(b.String()), nil
}

// Role sums up where this kernel stands in replication, for /proc/status:
// its role (primary or edge), the replica it writes to or follows, and, on
// an edge, the last transaction applied and how long after the replica
// got it.
func (d *Driver) Role(ctx context.Context) [][2]string {
	if t := d.Term(); t.State == "deposed" {
		return append([][2]string{{"role", "deposed"}, {"replica", redact(d.opt.DB.Follows())}}, leaseLines(t)...)
	}
	if url := d.opt.DB.Follows(); url != "" {
		role := "edge"
		if d.opt.Standby {
			role = "standby"
		}
		out := [][2]string{{"role", role}, {"replica", redact(url)}}
		if d.opt.Standby {
			out = append(out, leaseLines(d.Standby())...)
		}
		f := d.Follower()
		if f == nil {
			return append(out, [2]string{"applied_txid", "-"})
		}
		st := f.Status()
		behind := "0" // the last look found nothing left to apply
		if st.Failing() {
			behind = "unknown"
		}
		return append(out, [2]string{"applied_txid", fmt.Sprint(st.Applied)}, [2]string{"applied_at", stamp(st.AppliedAt)},
			[2]string{"lag_seconds", st.ApplyDelay()}, [2]string{"lag_txids", behind}, [2]string{"last_check", stamp(st.Checked)})
	}
	replica := "-"
	if c, err := d.config(ctx); err == nil && c.url != "" {
		replica = redact(c.url)
	}
	out := [][2]string{{"role", "primary"}, {"replica", replica}}
	if t := d.Term(); t.State != "" {
		out = append(out, leaseLines(t)...)
	}
	return out
}

// leaseLines says who holds the replica's lease, which generation, until
// when, and what this machine does about it.
func leaseLines(t TermStatus) [][2]string {
	gen := "-"
	if t.Generation > 0 {
		gen = fmt.Sprint(t.Generation)
	}
	return [][2]string{{"lease", dash(t.State)}, {"lease_owner", dash(t.Owner)}, {"lease_generation", gen}, {"lease_expires", stamp(t.ExpiresAt)}}
}

// followStatus renders a follower's state: the last transaction applied,
// when, when the replica received it, the last look and the last error.
func (d *Driver) followStatus(kv func(string, any)) {
	f := d.Follower()
	if f == nil {
		kv("running", "no")
		return
	}
	st := f.Status()
	kv("running", "yes")
	kv("applied_txid", st.Applied)
	kv("applied_at", stamp(st.AppliedAt))
	kv("replica_written_at", stamp(st.Written))
	kv("apply_delay", st.ApplyDelay())
	kv("last_check", stamp(st.Checked))
	lastErr := "-"
	if st.Failing() {
		lastErr = stamp(st.LastErrorAt) + " " + strings.ReplaceAll(st.LastError, "\n", " ")
	}
	kv("last_error", lastErr)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// reason is err's text without its operation and path.
func reason(err error) string {
	var e *kernel.Error
	if errors.As(err, &e) {
		return e.Reason()
	}
	return err.Error()
}
