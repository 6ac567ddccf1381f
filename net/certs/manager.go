package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
	"go.uber.org/zap"
)

// DefaultCA is Let's Encrypt's production directory.
const DefaultCA = "https://acme-v02.api.letsencrypt.org/directory"

// Routes says which hosts may have a certificate: those with a route.
type Routes interface {
	Keys(ctx context.Context) ([]string, error)
	Has(host string) bool
}

// Manager obtains, renews and serves certificates.
type Manager struct {
	db     *storage.DB
	store  *Store
	routes Routes
	log    *slog.Logger
	cache  *certmagic.Cache
	edge   edgeCerts // a follower's certificates (edge.go)

	on atomic.Bool // TLS is on: read on every request

	mu     sync.Mutex         // guards the fields below
	ctx    context.Context    // the current configuration's life: its background work ends with it
	cancel context.CancelFunc // ends ctx
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer
	// cfgNoARI is cfg without ARI: renewals do not name what they replace.
	cfgNoARI *certmagic.Config
	ports    func() (http, https int) // where this kernel listens, for the challenges
	lastErr  map[string]string
	waiters  map[string][]chan error // host -> Renew calls waiting for an attempt's outcome
}

// New returns a manager keeping its state in db. It does nothing until
// Start.
func New(db *storage.DB, routes Routes, log *slog.Logger) *Manager {
	m := &Manager{db: db, store: NewStore(db), routes: routes, log: log, lastErr: map[string]string{}, waiters: map[string][]chan error{}}
	return m
}

// Start reads the settings and, with TLS on, manages the routed hosts.
// ports says where this kernel listens: certmagic then knows the
// challenges are answered there (by TLSConfig and HTTPChallenge) rather
// than starting listeners of its own. Call Reconfigure when they move.
func (m *Manager) Start(ctx context.Context, ports func() (http, https int)) error {
	m.mu.Lock()
	m.ports = ports
	if m.cache == nil {
		m.cache = certmagic.NewCache(certmagic.CacheOptions{
			GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) {
				m.mu.Lock()
				defer m.mu.Unlock()
				return m.cfg, nil
			},
			Logger: zap.NewNop(),
		})
	}
	m.mu.Unlock()
	return m.Reconfigure(ctx)
}

// Stop ends renewals and attempts in progress.
func (m *Manager) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		m.cancel()
	}
	if m.cache != nil {
		m.cache.Stop()
		m.cache = nil
	}
}

// Reconfigure builds the certmagic configuration from the settings and the
// ports and, with TLS on, manages every routed host.
func (m *Manager) Reconfigure(ctx context.Context) error {
	on, err := m.db.Setting(ctx, "tls", "off")
	if err != nil {
		return err
	}
	ca, err := m.db.Setting(ctx, "acme.ca", DefaultCA)
	if err != nil {
		return err
	}
	email, err := m.db.Setting(ctx, "acme.email", "")
	if err != nil {
		return err
	}
	challenges, err := m.db.Setting(ctx, "acme.challenges", DefaultChallenges)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.cache == nil { // not started: a kernel for one CLI command
		m.mu.Unlock()
		return nil
	}
	// Not on demand: certmagic would then wait for a handshake to obtain
	// a certificate (ManageAsync only allowlists), and a new site's first
	// visitors would wait for the CA.
	cfg, issuer := m.newConfig(ca, email, challenges, false)
	m.cfgNoARI, _ = m.newConfig(ca, email, challenges, true)
	if m.cancel != nil {
		m.cancel() // retries under the old configuration stop
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.cfg, m.issuer = cfg, issuer
	m.on.Store(on == "on")
	m.mu.Unlock()
	if on == "on" {
		return m.ManageRoutes(ctx)
	}
	return nil
}

// newConfig is certmagic's configuration for the settings; m.mu is held.
// disableARI leaves out the "replaces" of a renewal's order (see Renew).
func (m *Manager) newConfig(ca, email, challenges string, disableARI bool) (*certmagic.Config, *certmagic.ACMEIssuer) {
	cfg := certmagic.New(m.cache, certmagic.Config{
		Storage:    m.store,
		Logger:     zap.NewNop(),
		OnEvent:    m.event,
		DisableARI: disableARI,
	})
	httpPort, httpsPort := m.ports()
	issuer := certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA: ca, Email: email, Agreed: true,
		AltHTTPPort: httpPort, AltTLSALPNPort: httpsPort,
		DisableHTTPChallenge:    httpPort == 0 || !strings.Contains(challenges, "http-01"),
		DisableTLSALPNChallenge: httpsPort == 0 || !strings.Contains(challenges, "tls-alpn-01"),
		Logger:                  zap.NewNop(),
	})
	cfg.Issuers = []certmagic.Issuer{issuer}
	return cfg, issuer
}

// event records failures per host, for status.
func (m *Manager) event(ctx context.Context, event string, data map[string]any) error {
	id, _ := data["identifier"].(string)
	var outcome error
	switch event {
	case "cert_failed":
		if err, ok := data["error"].(error); ok && errors.Is(err, context.Canceled) {
			return nil // stopped by fazt (a new configuration, a renewal)
		}
		msg := fmt.Sprint(data["error"])
		m.mu.Lock()
		m.lastErr[id] = msg
		m.mu.Unlock()
		m.log.Warn("tls: certificate failed", "host", id, "err", msg)
		outcome = errors.New(msg)
	case "cert_obtained":
		m.mu.Lock()
		delete(m.lastErr, id)
		m.mu.Unlock()
		m.log.Info("tls: certificate obtained", "host", id, "renewal", data["renewal"] == true)
	default:
		return nil
	}
	m.mu.Lock()
	for _, ch := range m.waiters[id] {
		select {
		case ch <- outcome:
		default:
		}
	}
	m.mu.Unlock()
	return nil
}

// On reports whether TLS is on.
func (m *Manager) On() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.on.Load()
}

// SetTLS turns TLS on or off.
func (m *Manager) SetTLS(ctx context.Context, on bool) error {
	v := "off"
	if on {
		v = "on"
	}
	if err := m.db.PutSetting(ctx, "tls", v); err != nil {
		return err
	}
	return m.Reconfigure(ctx)
}

// SetCA sets the ACME directory URL.
func (m *Manager) SetCA(ctx context.Context, ca string) error {
	u, err := url.Parse(ca)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return kernel.E(kernel.Invalid, fmt.Sprintf("invalid ACME directory %q: want an https:// URL", ca))
	}
	if err := m.db.PutSetting(ctx, "acme.ca", ca); err != nil {
		return err
	}
	return m.Reconfigure(ctx)
}

// Challenges are the ACME challenge types fazt answers, by default.
const DefaultChallenges = "http-01,tls-alpn-01"

// SetChallenges chooses the challenge types: "http-01", "tls-alpn-01" or
// both, comma-separated ("all" is both). Behind a proxy that terminates
// TLS only HTTP-01 works; with port 80 closed only TLS-ALPN-01 does.
func (m *Manager) SetChallenges(ctx context.Context, list string) error {
	if list == "all" {
		list = DefaultChallenges
	}
	seen := map[string]bool{}
	for _, c := range strings.Split(list, ",") {
		if c != "http-01" && c != "tls-alpn-01" || seen[c] {
			return kernel.E(kernel.Invalid, fmt.Sprintf("invalid challenge list %q: want http-01, tls-alpn-01, both comma-separated, or all", list))
		}
		seen[c] = true
	}
	if err := m.db.PutSetting(ctx, "acme.challenges", list); err != nil {
		return err
	}
	return m.Reconfigure(ctx)
}

// SetEmail sets the ACME account's contact address.
func (m *Manager) SetEmail(ctx context.Context, email string) error {
	if !strings.Contains(email, "@") || strings.ContainsAny(email, " \t") {
		return kernel.E(kernel.Invalid, fmt.Sprintf("invalid e-mail address %q", email))
	}
	if err := m.db.PutSetting(ctx, "acme.email", email); err != nil {
		return err
	}
	return m.Reconfigure(ctx)
}

// Setting returns a setting for the tree's status.
func (m *Manager) Setting(ctx context.Context, key string) string {
	def := map[string]string{"tls": "off", "acme.ca": DefaultCA, "acme.challenges": DefaultChallenges}[key]
	v, err := m.db.Setting(ctx, key, def)
	if err != nil || v == "" {
		return "-"
	}
	return v
}

// manageable reports whether host can have a certificate: an exact name
// with a route (no wildcard, no catch-all).
func manageable(host string) bool {
	return host != "" && !strings.Contains(host, "*")
}

// ManageRoutes obtains (in the background) certificates for every routed
// host that has none; a no-op with TLS off.
func (m *Manager) ManageRoutes(ctx context.Context) error {
	hosts, err := m.routes.Keys(ctx)
	if err != nil {
		return err
	}
	return m.Manage(ctx, hosts...)
}

// Manage obtains (in the background, retrying with backoff) certificates
// for the hosts that have a route, and stops renewing those of hosts that
// no longer have one (their certificates stay stored, for a route added
// back).
func (m *Manager) Manage(ctx context.Context, hosts ...string) error {
	m.mu.Lock()
	cfg, on, bg, cache := m.cfg, m.on.Load(), m.ctx, m.cache
	m.mu.Unlock()
	if !on || cfg == nil || m.follower() {
		return nil // a follower's certificates are the primary's (edge.go)
	}
	var names []string
	var gone []certmagic.SubjectIssuer
	for _, h := range hosts {
		switch {
		case !manageable(h):
		case m.routes.Has(h):
			names = append(names, h)
		default:
			gone = append(gone, certmagic.SubjectIssuer{Subject: h})
		}
	}
	if len(gone) > 0 {
		cache.RemoveManaged(gone)
	}
	if len(names) == 0 {
		return nil
	}
	// Stored certificates are loaded now, so that a kernel serves them from
	// its first handshake; the rest is obtained in the background.
	stored, err := m.certKeys(ctx)
	if err != nil {
		return err
	}
	for _, h := range names {
		if stored[h] == "" {
			continue
		}
		if _, err := cfg.CacheManagedCertificate(ctx, h); err != nil {
			m.log.Warn("tls: cannot load the stored certificate", "host", h, "err", err)
		}
	}
	return cfg.ManageAsync(bg, names)
}

// renewTimeout bounds an interactive renewal: the CA answers in seconds
// when it answers at all.
const renewTimeout = 2 * time.Minute

// Renew obtains or renews host's certificate now, waiting for the CA.
func (m *Manager) Renew(ctx context.Context, host string) error {
	// What is wrong with the request first, then with the state.
	if !manageable(host) {
		return kernel.E(kernel.Invalid, "only exact host names have certificates")
	}
	if !m.routes.Has(host) {
		return kernel.E(kernel.NotExist, "no route for "+host+": a certificate is obtained for a routed host")
	}
	if url := m.db.Follows(); url != "" {
		return kernel.E(kernel.NotPrimary, "this fazt is a follower of "+url+": certificates are obtained by the primary")
	}
	m.mu.Lock()
	cfg, on, noARI := m.cfg, m.on.Load(), m.cfgNoARI
	m.mu.Unlock()
	if !on {
		return kernel.E(kernel.Unavailable, "TLS is off: tls on in /net/ctl first")
	}
	if cfg == nil {
		return kernel.E(kernel.Unavailable, "the kernel is not serving (certificates are obtained by a running kernel)")
	}
	// A background attempt keeps the host's lock while it waits to retry
	// (for hours, after repeated failures): end the background attempts,
	// which start again below, so that this one runs now.
	m.mu.Lock()
	m.cancel()
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.Unlock()
	defer func() {
		if err := m.ManageRoutes(context.WithoutCancel(ctx)); err != nil {
			m.log.Warn("tls: cannot manage the routed hosts", "err", err)
		}
	}()
	err := m.renewOnce(ctx, cfg, host)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, errNoAnswer) && ctx.Err() == nil {
		// A renewal's order names the certificate it replaces (ARI); a CA
		// that cannot find it refuses the order (Pebble, for serials whose
		// first byte is 0x80 or more: letsencrypt/pebble#550). certmagic's
		// own retries try once without it; a renewal asked for now does
		// too.
		m.log.Info("tls: renewal failed; trying once more without naming the certificate it replaces", "host", host, "err", err)
		err = m.renewOnce(ctx, noARI, host)
	}
	if err == nil {
		// Serve the new certificate now: the cache would keep choosing the
		// old one, still valid. (A handshake in between the two calls,
		// one database read, finds none and fails.)
		m.mu.Lock()
		cache := m.cache
		m.mu.Unlock()
		cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: host}})
		if _, err := cfg.CacheManagedCertificate(ctx, host); err != nil {
			return kernel.Wrap(kernel.Internal, fmt.Errorf("load the renewed certificate of %s: %w", host, err))
		}
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return kernel.Wrap(kernel.Interrupted, err)
	}
	return kernel.E(kernel.Unavailable, fmt.Sprintf("renew %s: %v", host, err))
}

// errNoAnswer: a CA that did not answer is not asked again at once.
var errNoAnswer = fmt.Errorf("the CA did not answer within %v", renewTimeout)

// renewOnce makes one attempt to renew (or obtain) host's certificate and
// returns its outcome. certmagic's interactive calls would prompt on stdin
// for an e-mail address; its background ones retry for days: this runs a
// background one and stops it after its first attempt.
func (m *Manager) renewOnce(ctx context.Context, cfg *certmagic.Config, host string) error {
	outcome := make(chan error, 1)
	m.mu.Lock()
	m.waiters[host] = append(m.waiters[host], outcome)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.waiters[host] = slices.DeleteFunc(m.waiters[host], func(c chan error) bool { return c == outcome })
		if len(m.waiters[host]) == 0 {
			delete(m.waiters, host)
		}
		m.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, renewTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cfg.RenewCertAsync(ctx, host, true) }()
	var err error
	select {
	case err = <-outcome:
		cancel() // no retries
		<-done   // the lock is let go
	case err = <-done:
	case <-ctx.Done():
		<-done
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errNoAnswer
		}
		return ctx.Err()
	}
	return err
}

// TLSConfig is the HTTPS listeners' configuration: certificates by SNI from
// the managed ones (obtained on demand for routed hosts), and the ACME
// TLS-ALPN challenge.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1", "acme-tls/1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			m.mu.Lock()
			cfg, on := m.cfg, m.on.Load()
			m.mu.Unlock()
			if cfg == nil || !on {
				return nil, errors.New("TLS is off")
			}
			if m.follower() && !slices.Contains(hello.SupportedProtos, "acme-tls/1") {
				return m.edgeCertificate(hello)
			}
			return cfg.GetCertificate(hello)
		},
	}
}

// challengePath is where HTTP-01 challenges are asked.
const challengePath = "/.well-known/acme-challenge/"

// HTTPChallenge answers ACME HTTP-01 challenges before h.
func (m *Manager) HTTPChallenge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, challengePath) {
			m.mu.Lock()
			issuer := m.issuer
			m.mu.Unlock()
			if issuer != nil && issuer.HandleHTTPChallenge(w, r) {
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Secure reports whether a certificate for host is loaded, with TLS on.
func (m *Manager) Secure(host string) bool {
	if !m.on.Load() {
		return false
	}
	if m.follower() {
		c, err := m.storedCert(context.Background(), host)
		return err == nil && c != nil
	}
	m.mu.Lock()
	cache := m.cache
	m.mu.Unlock()
	return cache != nil && len(cache.AllMatchingCertificates(host)) > 0
}

// Hosts lists the hosts that have a stored certificate and, with TLS on,
// the routed ones whose last attempt failed.
func (m *Manager) Hosts(ctx context.Context) ([]string, error) {
	certs, err := m.certKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for h := range certs {
		out = append(out, h)
	}
	m.mu.Lock()
	for h := range m.lastErr {
		if _, ok := certs[h]; !ok && m.on.Load() && m.routes.Has(h) {
			out = append(out, h)
		}
	}
	m.mu.Unlock()
	sort.Strings(out)
	return out, nil
}

// certKeys maps each host with a stored certificate to its key in the
// store: the newest, when several CAs issued one.
func (m *Manager) certKeys(ctx context.Context) (map[string]string, error) {
	keys, err := m.store.List(ctx, "certificates", true)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	newest := map[string]time.Time{}
	for _, k := range keys {
		// certificates/<issuer>/<host>/<host>.crt
		parts := strings.Split(k, "/")
		if len(parts) != 4 || parts[3] != parts[2]+".crt" {
			continue
		}
		info, err := m.store.Stat(ctx, k)
		if err != nil {
			return nil, err
		}
		if h := parts[2]; out[h] == "" || info.Modified.After(newest[h]) {
			out[h], newest[h] = k, info.Modified
		}
	}
	return out, nil
}

// CertPEM returns host's certificate chain, PEM: never a key.
func (m *Manager) CertPEM(ctx context.Context, host string) ([]byte, error) {
	certs, err := m.certKeys(ctx)
	if err != nil {
		return nil, err
	}
	k, ok := certs[host]
	if !ok {
		return nil, kernel.E(kernel.NotExist, "no certificate for "+host)
	}
	b, err := m.store.Load(ctx, k)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, kernel.E(kernel.NotExist, "no certificate for "+host)
	}
	return b, err
}

// Status renders host's certificate status: "key value" lines, "-" for
// what is unknown (no certificate yet, no error).
func (m *Manager) Status(ctx context.Context, host string) ([]byte, error) {
	fields := [][2]string{{"issuer", "-"}, {"names", "-"}, {"serial", "-"}, {"not_before", "-"}, {"not_after", "-"}, {"last_error", "-"}}
	pemBytes, err := m.CertPEM(ctx, host)
	if err != nil && kernel.KindOf(err) != kernel.NotExist {
		return nil, err
	}
	if block, _ := pem.Decode(pemBytes); block != nil {
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			fields[0][1] = strings.ReplaceAll(c.Issuer.String(), " ", `\040`)
			fields[1][1] = strings.Join(c.DNSNames, ",")
			fields[2][1] = c.SerialNumber.Text(16)
			fields[3][1] = c.NotBefore.UTC().Format(time.RFC3339)
			fields[4][1] = c.NotAfter.UTC().Format(time.RFC3339)
		}
	}
	m.mu.Lock()
	if last := m.lastErr[host]; last != "" {
		fields[5][1] = strings.ReplaceAll(last, "\n", " ")
	}
	m.mu.Unlock()
	var b strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&b, "%s %s\n", f[0], f[1])
	}
	return []byte(b.String()), nil
}
