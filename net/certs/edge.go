package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"time"
)

// A follower (an edge, a standby) never talks to the CA: it serves the
// certificates the primary obtained, which reach it with the database, and
// answers the primary's challenges from the challenge data the primary
// stored (certmagic's distributed solving, which reads it from Storage).
// certmagic's cache is not used for them: it renews what it manages.

// edgeCerts holds the certificates a follower loaded from the store, by
// host; Reload forgets them when the database changes.
type edgeCerts struct {
	mu      sync.Mutex // guards byHost, gen and version
	gen     uint64     // bumped by reset
	byHost  map[string]*tls.Certificate
	version [2]int64 // the store's row count and latest change when byHost was begun
}

// reset forgets the loaded certificates if the store changed since they
// were loaded (version is the store's now): an apply that touched no
// certificate keeps them, so handshakes do not list the store again.
func (e *edgeCerts) reset(version [2]int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if version == e.version {
		return
	}
	e.gen++
	e.byHost = nil
	e.version = version
}

// follower says whether this kernel's database is a follower's.
func (m *Manager) follower() bool { return m.db.Follows() != "" }

// storedCert is host's certificate as stored, for a follower; nil if
// there is none.
func (m *Manager) storedCert(ctx context.Context, host string) (*tls.Certificate, error) {
	m.edge.mu.Lock()
	c, ok := m.edge.byHost[host]
	g := m.edge.gen
	m.edge.mu.Unlock()
	if ok {
		return c, nil
	}
	keys, err := m.certKeys(ctx)
	if err != nil {
		return nil, err
	}
	if k := keys[host]; k != "" {
		crt, err := m.store.Load(ctx, k)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		key, err := m.store.Load(ctx, strings.TrimSuffix(k, ".crt")+".key")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if len(crt) > 0 && len(key) > 0 {
			pair, err := tls.X509KeyPair(crt, key)
			if err != nil {
				return nil, err
			}
			c = &pair
		}
	}
	m.edge.mu.Lock()
	if m.edge.gen == g { // not read before a change it would outlive
		if m.edge.byHost == nil {
			m.edge.byHost = map[string]*tls.Certificate{}
		}
		m.edge.byHost[host] = c
	}
	m.edge.mu.Unlock()
	return c, nil
}

// edgeCertificate answers a follower's TLS handshake: the stored
// certificate of a routed host.
func (m *Manager) edgeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	host := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if !manageable(host) || !m.routes.Has(host) {
		return nil, errors.New("no certificate for " + host)
	}
	ctx, cancel := context.WithTimeout(hello.Context(), 5*time.Second)
	defer cancel()
	c, err := m.storedCert(ctx, host)
	if err != nil {
		m.log.Warn("tls: cannot load the stored certificate", "host", host, "err", err)
		return nil, err
	}
	if c == nil {
		return nil, errors.New("no certificate for " + host + " yet (the primary obtains it)")
	}
	return c, nil
}

// OnChallengeStored sets what runs once a challenge's data is stored and
// before the CA is told to validate it: on a primary with followers, the
// data must reach them first (sent to the replica, and time for them to
// apply it), since the CA may ask any of them. An error is logged, not
// returned: the primary itself can still answer. Call it before Start.
func (m *Manager) OnChallengeStored(fn func(ctx context.Context) error) {
	m.store.stored = func(ctx context.Context) error {
		if err := fn(ctx); err != nil {
			m.log.Warn("tls: the challenge may not reach the followers", "err", err)
		}
		return nil
	}
}

// Reload takes the settings and certificates of a database that changed
// under the manager (a follower's, at each apply): TLS on or off, the CA
// for the challenges, certificates obtained or renewed by the primary.
func (m *Manager) Reload(ctx context.Context) error {
	v, err := m.store.version(ctx)
	if err != nil {
		return err
	}
	m.edge.reset(v)
	return m.Reconfigure(ctx)
}
