package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// Local keeps the settings that belong to one machine, not to the world
// the database holds: the listeners' addresses and the memory limit. They
// live in a small file of the data directory, never in the database, so a
// follower (whose database is the primary's, page for page) has its own,
// and a primary and its followers can share a host on different ports.
//
// A key this file does not have reads as the database's (where fazt kept
// these settings before), unless the database is a follower's: the
// primary's listeners are not this machine's.
type Local struct {
	path string
	db   *DB

	mu   sync.Mutex // guards vals and the file
	vals map[string]localValue
}

type localValue struct {
	Value   string `json:"value"`
	Changed int64  `json:"changed"` // Unix ns
}

// LocalFile is the name of the file in the data directory.
const LocalFile = "node.json"

// OpenLocal reads the machine's settings at path (none if the file does
// not exist); db, if not nil, answers for the keys the file lacks.
func OpenLocal(path string, db *DB) (*Local, error) {
	l := &Local{path: path, db: db, vals: map[string]localValue{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return nil, kernel.E(kernel.Internal, fmt.Sprintf("read %s: %v", path, err))
	}
	if err := json.Unmarshal(b, &l.vals); err != nil {
		return nil, kernel.E(kernel.Invalid, fmt.Sprintf("%s is damaged (%v): fix or remove it (the machine's listeners and memory limit then start from their defaults)", path, err))
	}
	return l, nil
}

// SetFallback makes db answer for the keys the file lacks (opened after
// the file: the file says how to open it). Call it before any other use.
func (l *Local) SetFallback(db *DB) { l.db = db }

func (l *Local) get(key string) (localValue, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.vals[key]
	return v, ok
}

// fallback is the database that answers for keys the file lacks, or nil.
func (l *Local) fallback() *DB {
	if l.db == nil || l.db.Follows() != "" {
		return nil
	}
	return l.db
}

// Setting returns the machine's setting key, or def.
func (l *Local) Setting(ctx context.Context, key, def string) (string, error) {
	if v, ok := l.get(key); ok {
		return v.Value, nil
	}
	if db := l.fallback(); db != nil {
		return db.Setting(ctx, key, def)
	}
	return def, nil
}

// SettingTime is when the machine's setting key last changed (zero if
// never).
func (l *Local) SettingTime(ctx context.Context, key string) (time.Time, error) {
	if v, ok := l.get(key); ok {
		return time.Unix(0, v.Changed), nil
	}
	if db := l.fallback(); db != nil {
		return db.SettingTime(ctx, key)
	}
	return time.Time{}, nil
}

// PutSetting saves the machine's setting key, durably (a temporary file,
// fsynced and renamed over the old one). Saving the value it has changes
// nothing, its time included.
func (l *Local) PutSetting(ctx context.Context, key, value string) error {
	if v, ok := l.get(key); ok && v.Value == value {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	next := make(map[string]localValue, len(l.vals)+1)
	for k, v := range l.vals {
		next[k] = v
	}
	next[key] = localValue{Value: value, Changed: time.Now().UnixNano()}
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return kernel.E(kernel.Internal, err.Error())
	}
	if err := writeFileSync(l.path, append(b, '\n')); err != nil {
		return err
	}
	l.vals = next
	return nil
}

// writeFileSync replaces path with data: a crash leaves the old file or
// the new one.
func writeFileSync(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return classifyFile(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return classifyFile(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return classifyFile(err)
	}
	if err := f.Close(); err != nil {
		return classifyFile(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return classifyFile(err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
