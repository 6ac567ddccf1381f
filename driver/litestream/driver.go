package litestream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	upstream "github.com/benbjohnson/litestream"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// Settings keys of the configuration kept in the database.
const (
	replicaPrefix = "driver.litestream.replica."
	retentionKey  = "driver.litestream.retention"
	leaseTTLKey   = "driver.litestream.lease_ttl"
)

// DefaultRetention is how far back restores reach unless told otherwise:
// Litestream keeps the snapshots, and the changes since the oldest, this
// long.
const DefaultRetention = 24 * time.Hour

// Secrets are the credential files, by name; each is handed to the child
// as the environment variable it maps to.
var Secrets = map[string]string{
	"access_key_id":     "AWS_ACCESS_KEY_ID",
	"secret_access_key": "AWS_SECRET_ACCESS_KEY",
}

// Options say what the driver replicates and where it keeps its state.
type Options struct {
	DB      *storage.DB
	DataDir string       // holds litestream/ (state, socket) and secrets/litestream/
	Exe     string       // the fazt binary to run as the child; "" is this one
	Log     *slog.Logger // the kernel's log
	// LogOutput receives the child's log lines (the kernel log's writer).
	LogOutput io.Writer
	// Applied is called after the follower of a follower's database
	// (DB.Follows) applied transactions: what was read of the database
	// before is stale.
	Applied func(txid uint64)
	// Owner is this machine's stable name, the owner of the replica's
	// lease while it is the primary.
	Owner string
	// Standby makes a follower take the primary's place when the
	// primary's lease expires; Promoted is then called, after the
	// database takes writes and before the child starts, for the rest of
	// the kernel to become a primary's.
	Standby  bool
	Promoted func(ctx context.Context) error
	// BecomeFollower, when set, makes this kernel an edge (a standby
	// with standby) of the replica at url: written to
	// /driver/litestream/follow, once the replica was found to hold a
	// backup. It refuses a database of the kernel's own, and restarts
	// the kernel.
	BecomeFollower func(ctx context.Context, url string, standby bool) error
}

// FollowEvery is how often a follower looks for new transactions: one
// LIST request to the replica each time.
const FollowEvery = time.Second

// Driver supervises the Litestream child of the configured replica.
type Driver struct {
	opt     Options
	meta    string // Litestream's local state
	socket  string
	secrets string

	clientOnce sync.Once
	client     *http.Client // to the child's socket; made at the first call

	// cmu serializes configuration changes, which restart the child, and
	// guards started; it is held across the settings write on purpose (no
	// node lock is).
	cmu     sync.Mutex
	started bool // Start was called: a configured replica gets a child

	mu       sync.Mutex // guards sup, term, follower and standby
	sup      *supervisor
	term     *term     // the lease kept for an S3 replica, and its child
	follower *Follower // on a follower's database, once started
	standby  *standby  // watching the primary's lease, on a standby
}

// Open returns the driver of opt.DB; Start starts replicating.
func Open(ctx context.Context, opt Options) (*Driver, error) {
	if opt.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		opt.Exe = exe
	}
	if opt.LogOutput == nil {
		opt.LogOutput = os.Stderr
	}
	d := &Driver{
		opt:     opt,
		meta:    MetaDir(opt.DataDir),
		socket:  filepath.Join(opt.DataDir, "litestream", "ctl.sock"),
		secrets: filepath.Join(opt.DataDir, "secrets", "litestream"),
	}
	if err := os.MkdirAll(filepath.Dir(d.meta), 0o700); err != nil {
		return nil, err
	}
	return d, nil
}

// Start starts the child if a replica is configured, and keeps one running
// (through configuration changes) until Close.
func (d *Driver) Start(ctx context.Context) error {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if d.started {
		return nil
	}
	if url := d.opt.DB.Follows(); url != "" {
		// A follower's replica is the primary's: it is read, never
		// written, and no child runs.
		f, err := NewFollower(ctx, url, d.opt.DB, d.opt.DataDir)
		if err != nil {
			return err
		}
		var sb *standby
		if d.opt.Standby {
			lease, err := OpenLease(url, d.opt.DataDir, d.opt.Owner, 0)
			if err != nil {
				return err
			}
			sb = &standby{d: d, url: url, lease: lease, quit: make(chan struct{}), done: make(chan struct{})}
		}
		d.started = true
		f.Open(FollowEvery, d.opt.Applied)
		d.mu.Lock()
		d.follower, d.standby = f, sb
		d.mu.Unlock()
		d.opt.Log.Info("litestream: following", "replica", redact(url), "txid", f.Applied(), "standby", d.opt.Standby)
		if sb != nil {
			go sb.watch()
		}
		return nil
	}
	d.started = true
	return d.restart(ctx, false)
}

// Follower is the follower of a follower's database, nil on a primary or
// before Start.
func (d *Driver) Follower() *Follower {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.follower
}

// MetaDir is where Litestream keeps its local state for the data directory
// dataDir; dropping it makes the next replication start with a snapshot.
func MetaDir(dataDir string) string { return filepath.Join(dataDir, "litestream", "meta") }

// Close stops the child, which first sends what is left to the replica.
func (d *Driver) Close() error {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	d.started = false
	d.stop()
	d.mu.Lock()
	f, sb := d.follower, d.standby
	d.follower, d.standby = nil, nil
	d.mu.Unlock()
	if sb != nil {
		sb.stop()
	}
	if f != nil {
		f.Close()
	}
	return nil
}

// Standby is where a standby stands with the primary's lease (State ""
// when this kernel is not one).
func (d *Driver) Standby() TermStatus {
	d.mu.Lock()
	sb := d.standby
	d.mu.Unlock()
	if sb == nil {
		return TermStatus{}
	}
	return sb.Status()
}

// config is what one child runs with.
type config struct {
	name, url string
	retention time.Duration
	// paused: the database names a replica this data directory was never
	// bound to (a restored or copied database); replicating to it could
	// interleave two databases' histories in one replica.
	paused bool
	// leaseTTL is how long the primary's lease of an S3 replica lasts
	// unless renewed: a standby takes over about that long after the
	// primary stops.
	leaseTTL time.Duration
}

// BindFile records, in the data directory, the replica URL the database
// there may replicate to.
func BindFile(dataDir string) string { return filepath.Join(dataDir, "litestream", "replica") }

// Bind binds the data directory dataDir to the replica url (a restore into
// it, from that replica, does).
func Bind(dataDir, url string) error {
	if err := os.MkdirAll(filepath.Dir(BindFile(dataDir)), 0o700); err != nil {
		return err
	}
	return writePrivate(BindFile(dataDir), url)
}

// BoundTo is the replica the data directory dataDir is bound to: the one
// its database replicates to as a primary's; "" if none.
func BoundTo(dataDir string) string {
	b, _ := os.ReadFile(BindFile(dataDir))
	return string(b)
}

func (d *Driver) config(ctx context.Context) (config, error) {
	var c config
	reps, err := d.opt.DB.Settings(ctx, replicaPrefix)
	if err != nil {
		return c, err
	}
	for name, url := range reps {
		c.name, c.url = name, url // one at most: SetReplica sees to it
	}
	r, err := d.opt.DB.Setting(ctx, retentionKey, DefaultRetention.String())
	if err != nil {
		return c, err
	}
	if c.retention, err = time.ParseDuration(r); err != nil {
		c.retention = DefaultRetention
	}
	t, err := d.opt.DB.Setting(ctx, leaseTTLKey, DefaultLeaseTTL.String())
	if err != nil {
		return c, err
	}
	if c.leaseTTL, err = time.ParseDuration(t); err != nil || c.leaseTTL < MinLeaseTTL {
		c.leaseTTL = DefaultLeaseTTL
	}
	if c.url != "" {
		c.paused = BoundTo(d.opt.DataDir) != c.url
	}
	return c, nil
}

// restart stops the child and starts one for the configuration now saved,
// if it names a replica; fresh drops Litestream's local state (a new
// replica starts with a snapshot). cmu must be held.
func (d *Driver) restart(ctx context.Context, fresh bool) error {
	d.stop()
	if !d.started {
		if fresh {
			return os.RemoveAll(d.meta)
		}
		return nil
	}
	if fresh {
		if err := os.RemoveAll(d.meta); err != nil {
			return err
		}
	}
	c, err := d.config(ctx)
	if err != nil || c.url == "" {
		return err
	}
	if c.paused {
		d.opt.Log.Warn("litestream: not replicating: this database names a replica this data directory is not bound to (restored or copied?); write its URL again to replicate",
			"replica", c.name, "url", redact(c.url))
		return nil
	}
	return d.begin(c, nil)
}

// begin starts replicating with c: under the replica's lease when it is
// on S3 (held, if a standby took it already), else with a child at once.
// cmu must be held.
func (d *Driver) begin(c config, held *upstream.Lease) error {
	lease, err := OpenLease(c.url, d.opt.DataDir, d.opt.Owner, c.leaseTTL)
	if kernel.KindOf(err) == kernel.NotSupported {
		s := newSupervisor(d, c)
		d.setSup(s)
		s.start()
		return nil
	}
	if err != nil {
		return err
	}
	t := &term{d: d, cfg: c, lease: lease, ttl: c.leaseTTL, held: held, quit: make(chan struct{}), done: make(chan struct{})}
	t.status = TermStatus{State: "taking"}
	if held != nil {
		t.status = TermStatus{State: "holding", Owner: held.Owner, Generation: held.Generation, ExpiresAt: held.ExpiresAt}
	}
	d.mu.Lock()
	d.term = t
	d.mu.Unlock()
	t.start()
	return nil
}

// setSup records the running supervisor; the child then reads the WAL.
func (d *Driver) setSup(s *supervisor) {
	d.mu.Lock()
	d.sup = s
	d.mu.Unlock()
	if s != nil {
		d.opt.DB.SetWALOwner(d)
	} else {
		d.opt.DB.SetWALOwner(nil)
	}
}

// stop stops the child, and the term it runs in, if one runs. cmu must
// be held.
func (d *Driver) stop() {
	d.mu.Lock()
	t := d.term
	d.term = nil
	d.mu.Unlock()
	if t != nil {
		t.stop()
	}
	if s := d.current(); s != nil {
		s.stop()
		d.setSup(nil)
	}
}

// Term is where this machine stands with the replica's lease (State ""
// without one).
func (d *Driver) Term() TermStatus {
	d.mu.Lock()
	t := d.term
	d.mu.Unlock()
	if t == nil {
		return TermStatus{}
	}
	return t.Status()
}

func (d *Driver) current() *supervisor {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sup
}

// replicaName is what a replica can be called: a short lower-case word.
var replicaName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Keys, Get, Set, Remove and ValidKey make the replicas a ctl.Collection
// (/driver/litestream/replicas).
func (d *Driver) Keys(ctx context.Context) ([]string, error) {
	reps, err := d.opt.DB.Settings(ctx, replicaPrefix)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(reps))
	for k := range reps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// Get returns the replica's URL.
func (d *Driver) Get(ctx context.Context, name string) (string, error) {
	reps, err := d.opt.DB.Settings(ctx, replicaPrefix)
	if err != nil {
		return "", err
	}
	u, ok := reps[name]
	if !ok {
		return "", kernel.E(kernel.NotExist, "no replica "+name)
	}
	return u, nil
}

// ValidKey says whether name can name a replica.
func (d *Driver) ValidKey(name string) error {
	if !replicaName.MatchString(name) {
		return kernel.E(kernel.Invalid, fmt.Sprintf("bad replica name %q: lower-case letters, digits, - and _", name))
	}
	return nil
}

// ModTime is when the replica name was last configured (ctl.ModTimer).
func (d *Driver) ModTime(ctx context.Context, name string) (time.Time, error) {
	return d.opt.DB.SettingTime(ctx, replicaPrefix+name)
}

// Set configures the replica name at url and restarts the child.
func (d *Driver) Set(ctx context.Context, name, url string) error {
	if err := d.ValidKey(name); err != nil {
		return err
	}
	url = strings.TrimSpace(url)
	if err := ValidURL(url); err != nil {
		return err
	}
	d.cmu.Lock()
	defer d.cmu.Unlock()
	c, err := d.config(ctx)
	if err != nil {
		return err
	}
	if c.name != "" && c.name != name {
		return kernel.E(kernel.Exist, fmt.Sprintf("replica %s is configured: Litestream replicates to one replica at a time; remove it first", c.name))
	}
	deposed := d.Term().State == "deposed"
	if c.url == url && !c.paused && !deposed {
		return nil
	}
	if deposed {
		// The operator says this machine is the primary again (the
		// one that took the lease is gone for good): its term goes on
		// from the lease's generation, once that lease expires.
		if err := InheritLease(ctx, url, d.opt.DataDir); err != nil {
			return err
		}
		d.opt.DB.Promote()
		d.opt.Log.Warn("litestream: deposed, told to be the primary again", "replica", redact(url))
	}
	if err := d.opt.DB.PutSetting(ctx, replicaPrefix+name, url); err != nil {
		return err
	}
	if err := d.opt.DB.Commit(ctx); err != nil {
		return err
	}
	if err := Bind(d.opt.DataDir, url); err != nil {
		return kernel.E(kernel.Internal, err.Error())
	}
	d.opt.Log.Info("litestream: replica set", "name", name, "url", redact(url))
	return d.restart(ctx, true)
}

// Remove stops replicating to the replica name (the replica keeps what it
// has).
func (d *Driver) Remove(ctx context.Context, name string) error {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if d.Term().State == "deposed" {
		// A machine without a replica is its own primary.
		d.opt.DB.Promote()
	}
	if err := d.opt.DB.DeleteSetting(ctx, replicaPrefix+name); err != nil {
		if kernel.KindOf(err) == kernel.NotExist {
			return kernel.E(kernel.NotExist, "no replica "+name)
		}
		return err
	}
	if err := d.opt.DB.Commit(ctx); err != nil {
		return err
	}
	d.opt.Log.Info("litestream: replica removed", "name", name)
	return d.restart(ctx, true)
}

// ValidURL checks a replica URL: s3://BUCKET[/PATH][?endpoint=URL&region=R]
// or file:///ABSOLUTE/PATH.
func ValidURL(raw string) error {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return kernel.E(kernel.Invalid, fmt.Sprintf("bad replica URL %q: want s3://BUCKET/PATH or file:///PATH", raw))
	}
	switch scheme {
	case "s3":
		if rest == "" || strings.HasPrefix(rest, "/") {
			return kernel.E(kernel.Invalid, "bad replica URL: s3:// needs a bucket (s3://BUCKET/PATH)")
		}
	case "file":
		if !strings.HasPrefix(rest, "/") || filepath.Clean(rest) == "/" {
			return kernel.E(kernel.Invalid, "bad replica URL: file:// needs an absolute directory (file:///var/backups/fazt)")
		}
	default:
		return kernel.E(kernel.Invalid, fmt.Sprintf("bad replica URL: scheme %q is not supported (s3 or file)", scheme))
	}
	if _, err := upstream.NewReplicaClientFromURL(raw); err != nil {
		return kernel.E(kernel.Invalid, fmt.Sprintf("bad replica URL %s: %v", redact(raw), err))
	}
	return nil
}

// Retention is how far back restores reach.
func (d *Driver) Retention(ctx context.Context) (string, error) {
	c, err := d.config(ctx)
	return c.retention.String(), err
}

// SetRetention changes how far back restores reach (at least an hour) and
// restarts the child.
func (d *Driver) SetRetention(ctx context.Context, v string) error {
	r, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || r < time.Hour {
		return kernel.E(kernel.Invalid, fmt.Sprintf("bad retention %q: a duration of at least 1h, like 24h or 168h", v))
	}
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if err := d.opt.DB.PutSetting(ctx, retentionKey, r.String()); err != nil {
		return err
	}
	if err := d.opt.DB.Commit(ctx); err != nil {
		return err
	}
	return d.restart(ctx, false)
}

// LeaseTTL is how long the primary's lease lasts unless renewed.
func (d *Driver) LeaseTTL(ctx context.Context) (string, error) {
	c, err := d.config(ctx)
	return c.leaseTTL.String(), err
}

// SetLeaseTTL changes how long the primary's lease lasts (at least
// MinLeaseTTL, at most an hour) and restarts the child. A standby takes
// over about that long after the primary stops; a primary cut off from
// the replica for longer than a sixth of it stops writing to it.
func (d *Driver) SetLeaseTTL(ctx context.Context, v string) error {
	t, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || t < MinLeaseTTL || t > time.Hour {
		return kernel.E(kernel.Invalid, fmt.Sprintf("bad lease TTL %q: a duration from %v to 1h, like 30s", v, MinLeaseTTL))
	}
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if err := d.opt.DB.PutSetting(ctx, leaseTTLKey, t.String()); err != nil {
		return err
	}
	if err := d.opt.DB.Commit(ctx); err != nil {
		return err
	}
	return d.restart(ctx, false)
}

// SetSecret saves a credential (0600, outside the database so that no
// backup carries it) and restarts the child; an empty value removes it.
func (d *Driver) SetSecret(ctx context.Context, name, v string) error {
	if _, ok := Secrets[name]; !ok {
		return kernel.E(kernel.NotExist, "no credential "+name)
	}
	v = strings.TrimSpace(v)
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if err := os.MkdirAll(d.secrets, 0o700); err != nil {
		return kernel.E(kernel.Internal, err.Error())
	}
	p := filepath.Join(d.secrets, name)
	if v == "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return kernel.E(kernel.Internal, err.Error())
		}
	} else if err := writePrivate(p, v); err != nil {
		return kernel.E(kernel.Internal, err.Error())
	}
	return d.restart(ctx, false)
}

// writePrivate replaces p with v, atomically, readable by the owner only.
func writePrivate(p, v string) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(v); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// SecretEnv returns the credentials saved in dataDir as environment
// variables, for the child and for restores.
func SecretEnv(dataDir string) []string {
	var env []string
	for name, v := range Secrets {
		b, err := os.ReadFile(filepath.Join(dataDir, "secrets", "litestream", name))
		if err == nil && len(b) > 0 {
			env = append(env, v+"="+string(b))
		}
	}
	return env
}

// ChildEnv is the environment of a Litestream process: this one's without
// AWS_CA_BUNDLE (the AWS SDK fails at start when it is set to a bundle it
// cannot use), with the saved credentials in place of any inherited.
func ChildEnv(dataDir string) []string {
	saved := SecretEnv(dataDir)
	drop := map[string]bool{"AWS_CA_BUNDLE": true}
	for _, kv := range saved {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, saved...)
}

// RestoreEnv is the credentials a restore uses: the saved ones, unless
// the environment has its own (a new machine has nothing saved).
func RestoreEnv(dataDir string) []string {
	var env []string
	for _, kv := range SecretEnv(dataDir) {
		k, _, _ := strings.Cut(kv, "=")
		if os.Getenv(k) == "" {
			env = append(env, kv)
		}
	}
	return env
}

// hasSecret says whether the credential is saved.
func (d *Driver) hasSecret(name string) bool {
	fi, err := os.Stat(filepath.Join(d.secrets, name))
	return err == nil && fi.Size() > 0
}
