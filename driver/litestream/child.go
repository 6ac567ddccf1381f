package litestream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	upstream "github.com/benbjohnson/litestream"
	_ "github.com/benbjohnson/litestream/file" // file:// replicas
	_ "github.com/benbjohnson/litestream/s3"   // s3:// replicas
	"github.com/superfly/ltx"
)

// ChildConfig is what the replicating child is told.
type ChildConfig struct {
	DB        string        // the database file
	Meta      string        // Litestream's local state (a directory)
	Socket    string        // the control socket to serve
	Replica   string        // the replica's URL
	Retention time.Duration // how far back restores reach
	// Lease, if set, is the lease record that fences the child's writes
	// to the replica (fencedClient).
	Lease string
	Log   *slog.Logger
}

// childStatus is what GET /status answers.
type childStatus struct {
	TXID           uint64    `json:"txid"`            // the last transaction Litestream has seen
	ReplicatedTXID uint64    `json:"replicated_txid"` // the last one on the replica
	LastSync       time.Time `json:"last_sync"`       // of the replica, zero before the first
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at"`
}

// Snapshot is a full copy of the database on the replica.
type Snapshot struct {
	TXID    uint64    `json:"txid"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

// Backups is the replica's restore window and its snapshots.
type Backups struct {
	From      time.Time  `json:"from"` // the earliest time a restore reaches
	To        time.Time  `json:"to"`   // the latest
	MinTXID   uint64     `json:"min_txid"`
	MaxTXID   uint64     `json:"max_txid"`
	Snapshots []Snapshot `json:"snapshots"`
}

// RunChild replicates the database until ctx ends, serving its control
// socket. It is the body of "fazt driver litestream run".
func RunChild(ctx context.Context, c ChildConfig) error {
	// One child per database: the one of a kernel that was killed may still
	// be sending what is left (Pdeathsig gives it SIGTERM) when the next
	// kernel starts its own.
	unlock, err := lockMeta(ctx, c.Meta)
	if err != nil {
		return err
	}
	defer unlock()
	client, err := upstream.NewReplicaClientFromURL(c.Replica)
	if err != nil {
		return fmt.Errorf("replica %s: %w", redact(c.Replica), err)
	}
	if c.Lease != "" {
		client = &fencedClient{ReplicaClient: client, record: c.Lease, now: time.Now}
	}
	errs := &lastError{Handler: c.Log.Handler()}
	log := slog.New(errs)
	db := upstream.NewDB(c.DB)
	db.SetMetaPath(c.Meta)
	// Restart the WAL at the size the kernel's checkpointer would have
	// (storage.walLimit), not Litestream's 500 MB.
	db.TruncatePageN = 16384
	db.Replica = upstream.NewReplicaWithClient(db, client)
	store := upstream.NewStore([]*upstream.DB{db}, upstream.DefaultCompactionLevels)
	store.Logger = log
	db.SetLogger(log)
	if c.Retention > 0 {
		store.SnapshotRetention = c.Retention
	}
	if err := store.Open(ctx); err != nil {
		return fmt.Errorf("start replicating: %w", err)
	}
	defer func() {
		// Close syncs what is left to the replica first (bounded by
		// ShutdownSyncTimeout).
		if err := store.Close(context.Background()); err != nil {
			c.Log.Warn("litestream: close", "err", err)
		}
	}()

	os.Remove(c.Socket)
	ln, err := net.Listen("unix", c.Socket)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	os.Chmod(c.Socket, 0o600)
	srv := &http.Server{Handler: childHandler(store, db, errs), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	c.Log.Info("litestream: replicating", "db", c.DB, "replica", redact(c.Replica))
	<-ctx.Done()
	return nil
}

// lockMeta takes the lock of Litestream's state directory, waiting while
// another child holds it.
func lockMeta(ctx context.Context, meta string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(meta), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(meta+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", meta, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// childHandler serves the control socket.
func childHandler(store *upstream.Store, db *upstream.DB, errs *lastError) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		// The replica's position reads zero after a failed upload until
		// the next success: report the highest seen.
		replicated := max(uint64(db.Replica.Pos().TXID), errs.replicated.Load())
		errs.replicated.Store(replicated)
		st := childStatus{ReplicatedTXID: replicated, LastSync: db.LastSuccessfulSyncAt()}
		if pos, err := db.Pos(); err == nil {
			st.TXID = uint64(pos.TXID)
		}
		st.LastError, st.LastErrorAt = errs.get()
		reply(w, st, nil)
	})
	mux.HandleFunc("POST /checkpoint", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, db.Checkpoint(r.Context(), upstream.CheckpointModeTruncate))
	})
	// syncNow sends everything committed to the replica now, not at the
	// next tick.
	syncNow := func(ctx context.Context) error {
		if _, err := store.SyncDB(ctx, db.Path(), true); err != nil {
			return errs.note(fmt.Errorf("sync to the replica: %w", err))
		}
		return nil
	}
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		// What a follower must see before someone else looks.
		if err := syncNow(r.Context()); err != nil {
			reply(w, nil, err)
			return
		}
		reply(w, Snapshot{TXID: uint64(db.Replica.Pos().TXID)}, nil)
	})
	mux.HandleFunc("POST /backup", func(w http.ResponseWriter, r *http.Request) {
		// Everything committed goes to the replica, then a snapshot
		// makes it restorable without the transactions before it.
		if err := syncNow(r.Context()); err != nil {
			reply(w, nil, err)
			return
		}
		// Litestream may be writing a snapshot of its own (it takes one
		// when it starts on a replica): a directory replica's temporary
		// file is shared, so one of the two can fail. Try again, a little.
		var info *ltx.FileInfo
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if info, err = db.Snapshot(r.Context()); err == nil || r.Context().Err() != nil {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		}
		if err != nil {
			reply(w, nil, errs.note(fmt.Errorf("snapshot to the replica: %w", err)))
			return
		}
		reply(w, Snapshot{TXID: uint64(info.MaxTXID), Size: info.Size, Created: info.CreatedAt}, nil)
	})
	mux.HandleFunc("GET /backups", func(w http.ResponseWriter, r *http.Request) {
		b, err := listBackups(r.Context(), db.Replica.Client)
		reply(w, b, err)
	})
	return mux
}

// lastError keeps the last error Litestream logged: its replica monitor
// retries failed uploads by itself and only logs why they failed.
type lastError struct {
	slog.Handler
	mu  sync.Mutex // guards msg, at
	msg string
	at  time.Time

	replicated atomic.Uint64 // the highest replicated TXID seen
}

// note records err as the last error and returns it.
func (h *lastError) note(err error) error {
	h.mu.Lock()
	h.msg, h.at = err.Error(), time.Now()
	h.mu.Unlock()
	return err
}

func (h *lastError) Handle(ctx context.Context, r slog.Record) error {
	h.record(r)
	return h.Handler.Handle(ctx, r)
}

func (h *lastError) record(r slog.Record) {
	if r.Level >= slog.LevelError {
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" || a.Key == "err" {
				msg += ": " + a.Value.String()
			}
			return true
		})
		h.mu.Lock()
		h.msg, h.at = msg, r.Time
		h.mu.Unlock()
	}
}

func (h *lastError) WithAttrs(as []slog.Attr) slog.Handler {
	return &lastErrorView{Handler: h.Handler.WithAttrs(as), root: h}
}

func (h *lastError) WithGroup(name string) slog.Handler {
	return &lastErrorView{Handler: h.Handler.WithGroup(name), root: h}
}

func (h *lastError) get() (string, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msg, h.at
}

// lastErrorView is a derived logger's handler that records into its root.
type lastErrorView struct {
	slog.Handler
	root *lastError
}

func (v *lastErrorView) Handle(ctx context.Context, r slog.Record) error {
	v.root.record(r)
	return v.Handler.Handle(ctx, r)
}

func (v *lastErrorView) WithAttrs(as []slog.Attr) slog.Handler {
	return &lastErrorView{Handler: v.Handler.WithAttrs(as), root: v.root}
}

func (v *lastErrorView) WithGroup(name string) slog.Handler {
	return &lastErrorView{Handler: v.Handler.WithGroup(name), root: v.root}
}

// reply answers v as JSON, or err as a 500 with its text (the socket is
// the kernel's only; the text is for the operator).
func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(v)
}

// listBackups reads the replica's LTX files: the window restores can
// reach, and the snapshots.
func listBackups(ctx context.Context, client upstream.ReplicaClient) (Backups, error) {
	var b Backups
	for level := upstream.SnapshotLevel; level >= 0; level-- {
		itr, err := client.LTXFiles(ctx, level, 0, false)
		if err != nil {
			return b, err
		}
		for itr.Next() {
			info := itr.Item()
			if b.From.IsZero() || info.CreatedAt.Before(b.From) {
				b.From = info.CreatedAt
			}
			if info.CreatedAt.After(b.To) {
				b.To = info.CreatedAt
			}
			if uint64(info.MaxTXID) > b.MaxTXID {
				b.MaxTXID = uint64(info.MaxTXID)
			}
			if level == upstream.SnapshotLevel {
				b.Snapshots = append(b.Snapshots, Snapshot{TXID: uint64(info.MaxTXID), Size: info.Size, Created: info.CreatedAt})
				if b.MinTXID == 0 || uint64(info.MaxTXID) < b.MinTXID {
					b.MinTXID = uint64(info.MaxTXID)
				}
			} else if info.MinTXID == 1 && (b.MinTXID == 0 || uint64(info.MaxTXID) < b.MinTXID) {
				// Files from the first transaction restore without a
				// snapshot.
				b.MinTXID = uint64(info.MaxTXID)
			}
		}
		if err := itr.Close(); err != nil {
			return b, err
		}
	}
	return b, nil
}

// redact hides a URL's password, if it carries one.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}
