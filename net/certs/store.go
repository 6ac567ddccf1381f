package certs

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// Store is certmagic's Storage on the database.
type Store struct {
	db *storage.DB
	// stored, if set, is called after an ACME challenge's data is
	// stored, before certmagic tells the CA to validate it: the
	// followers answer challenges from it (see edge.go). Set before use.
	stored func(ctx context.Context) error

	mu    sync.Mutex // guards locks
	locks map[string]chan struct{}
}

var _ certmagic.Storage = (*Store)(nil)

// NewStore returns the certificate store of db.
func NewStore(db *storage.DB) *Store {
	return &Store{db: db, locks: map[string]chan struct{}{}}
}

// Store implements certmagic.Storage.
func (s *Store) Store(ctx context.Context, key string, value []byte) error {
	err := s.db.Write(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(`INSERT INTO tls_store(key, value, modified) VALUES (?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value, modified = excluded.modified`,
			key, value, time.Now().UnixNano())
		return err
	})
	if err == nil && s.stored != nil && strings.Contains(key, "/challenge_tokens/") {
		err = s.stored(ctx)
	}
	return err
}

// Load implements certmagic.Storage; a missing key is fs.ErrNotExist, as
// certmagic expects.
func (s *Store) Load(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.db.View(ctx, func(tx *storage.Tx) error {
		return tx.QueryRow(`SELECT value FROM tls_store WHERE key = ?`, key).Scan(&v)
	})
	if kernel.KindOf(err) == kernel.NotExist {
		return nil, fs.ErrNotExist
	}
	return v, err
}

// version is the store's row count and latest change: it moves with every
// Store (modified is the time of writing) and Delete (the count).
func (s *Store) version(ctx context.Context) ([2]int64, error) {
	var v [2]int64
	err := s.db.View(ctx, func(tx *storage.Tx) error {
		return tx.QueryRow(`SELECT count(*), coalesce(max(modified), 0) FROM tls_store`).Scan(&v[0], &v[1])
	})
	return v, err
}

// Delete implements certmagic.Storage: key, and every key below it.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.db.Write(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(`DELETE FROM tls_store WHERE key = ? OR key >= ? AND key < ?`, key, key+"/", key+"0")
		return err
	})
}

// Exists implements certmagic.Storage.
func (s *Store) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List implements certmagic.Storage.
func (s *Store) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	var keys []string
	err := s.db.View(ctx, func(tx *storage.Tx) error {
		p := strings.TrimSuffix(prefix, "/") + "/"
		rows, err := tx.Query(`SELECT key FROM tls_store WHERE key >= ? AND key < ? ORDER BY key`, p, strings.TrimSuffix(p, "/")+"0")
		if err != nil {
			return err
		}
		defer rows.Close()
		seen := map[string]bool{}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			if !recursive {
				// Only the names directly under prefix.
				rest := strings.TrimPrefix(k, p)
				if i := strings.IndexByte(rest, '/'); i >= 0 {
					k = p + rest[:i]
				}
			}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		return rows.Err()
	})
	if err == nil && len(keys) == 0 {
		return nil, fs.ErrNotExist
	}
	return keys, err
}

// Stat implements certmagic.Storage.
func (s *Store) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	info := certmagic.KeyInfo{Key: key}
	err := s.db.View(ctx, func(tx *storage.Tx) error {
		var size, mod int64
		err := tx.QueryRow(`SELECT length(value), modified FROM tls_store WHERE key = ?`, key).Scan(&size, &mod)
		if err == nil {
			info.Size, info.Modified, info.IsTerminal = size, time.Unix(0, mod), true
			return nil
		}
		if kernel.KindOf(err) != kernel.NotExist {
			return err
		}
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM tls_store WHERE key >= ? AND key < ?`, key+"/", key+"0").Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fs.ErrNotExist
		}
		return nil
	})
	return info, err
}

// Lock implements certmagic.Locker. One kernel serves a data directory, so
// locks live in this process.
func (s *Store) Lock(ctx context.Context, name string) error {
	for {
		s.mu.Lock()
		held, busy := s.locks[name]
		if !busy {
			s.locks[name] = make(chan struct{})
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Unlock implements certmagic.Locker.
func (s *Store) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.locks[name]; ok {
		close(ch)
		delete(s.locks, name)
	}
	return nil
}
