package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fazt-sh/fazt/kernel"
)

// scheme names a listener: HTTP or HTTPS.
type scheme int

const (
	schemeHTTP scheme = iota
	schemeHTTPS
)

// The unprivileged defaults; production sets :80 and :443 (/net/http,
// /net/https).
const (
	DefaultHTTPAddr  = ":8080"
	DefaultHTTPSAddr = ":8443"
)

var schemes = [2]struct {
	name, setting, def string
}{
	{"http", "net.http", DefaultHTTPAddr},
	{"https", "net.https", DefaultHTTPSAddr},
}

// TLS is what HTTPS needs from the certificate manager.
type TLS interface {
	// TLSConfig picks certificates by SNI and answers TLS-ALPN-01
	// challenges.
	TLSConfig() *tls.Config
	// HTTPChallenge answers ACME HTTP-01 challenges before h.
	HTTPChallenge(h http.Handler) http.Handler
	// Secure reports whether host has a certificate, which makes its plain
	// HTTP requests redirect to HTTPS.
	Secure(host string) bool
	// Reconfigure is called when a listener moved: challenges are
	// answered where the listeners are now.
	Reconfigure(ctx context.Context) error
}

// listener is one bound address and its server.
type listener struct {
	addr string // as bound (the port chosen for ":0")
	ln   net.Listener
	srv  *http.Server
	done chan struct{} // closed when Serve returns

	cmu   sync.Mutex // guards conns
	conns map[net.Conn]http.ConnState
}

// Inherit gives the server listening sockets to serve instead of binding
// their addresses anew, by scheme name ("http", "https"): those a previous
// kernel handed over in an upgrade, so that no connection is refused
// between the two. One whose port is no longer the configured one is
// closed. Call before Open.
func (s *Server) Inherit(ls map[string]net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inherited = ls
}

// DupListeners returns duplicates of the listening sockets' descriptors,
// by scheme name, close-on-exec, for a new kernel to inherit (Inherit).
// The caller closes them (syscall.Close). They are bare descriptors, not
// os.Files: handing an os.File to a child process (os/exec calls Fd) puts
// the shared socket in blocking mode, and this process's accept loop then
// blocks in accept(2), taking and dropping a connection at exit.
func (s *Server) DupListeners() (map[string]uintptr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]uintptr{}
	fail := func(err error) (map[string]uintptr, error) {
		for _, fd := range out {
			syscall.Close(int(fd))
		}
		return nil, err
	}
	for sc, l := range s.listeners {
		if l == nil {
			continue
		}
		sc2, ok := l.ln.(syscall.Conn)
		if !ok {
			continue
		}
		raw, err := sc2.SyscallConn()
		if err != nil {
			return fail(err)
		}
		var dup int
		var dupErr error
		if err := raw.Control(func(fd uintptr) {
			dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		}); err != nil {
			return fail(err)
		}
		if dupErr != nil {
			return fail(dupErr)
		}
		out[schemes[sc].name] = uintptr(dup)
	}
	return out, nil
}

// takeInherited returns the inherited socket of sc if it listens on addr's
// port, and forgets it either way.
func (s *Server) takeInherited(sc scheme, addr string) net.Listener {
	s.mu.Lock()
	ln := s.inherited[schemes[sc].name]
	delete(s.inherited, schemes[sc].name)
	s.mu.Unlock()
	if ln == nil {
		return nil
	}
	_, want, err1 := net.SplitHostPort(addr)
	_, have, err2 := net.SplitHostPort(ln.Addr().String())
	if err1 != nil || err2 != nil || want != have {
		ln.Close()
		return nil
	}
	return ln
}

// SetTLS gives the server its certificates; without it there is no HTTPS
// listener. Call before Open.
func (s *Server) SetTLS(t TLS) { s.tls = t }

// Open starts listening on the configured addresses and follows changes to
// the tree to keep the cache right. A listener that cannot bind is logged
// and shown in /net/status; the kernel runs on.
func (s *Server) Open(ctx context.Context) error {
	if s.storeDir != "" && s.store == nil {
		st, err := openStore(s.storeDir, s.room, s.log, s.cache.invalidateETag)
		if err != nil {
			// Served from the database and memory only.
			s.log.Error("http: cannot open the store of materialized files", "dir", s.storeDir, "err", err)
		}
		s.store = st
	}
	s.mu.Lock()
	s.running = true
	s.unsub = s.k.NS.Subscribe(func(c kernel.Change) {
		if c.Op == kernel.Reloaded {
			s.cache.clear() // entries name inodes, any of which may have changed
			return
		}
		s.cache.invalidate(c.Ino)
		if c.Dir != 0 {
			s.cache.invalidate(c.Dir)
		}
	})
	s.mu.Unlock()
	for sc := range schemes {
		if sc == int(schemeHTTPS) && s.tls == nil {
			continue
		}
		addr, err := s.Addr(ctx, scheme(sc))
		if err != nil {
			return err
		}
		if err := s.listen(scheme(sc), addr); err != nil {
			// The configured address cannot be bound: status says so
			// until a listener is bound.
			s.mu.Lock()
			s.errs[scheme(sc)] = err.Error()
			s.mu.Unlock()
			s.log.Error(schemes[sc].name+": cannot listen", "addr", addr, "err", err)
		}
	}
	s.mu.Lock()
	for _, ln := range s.inherited { // sockets of listeners now off
		ln.Close()
	}
	s.inherited = nil
	s.mu.Unlock()
	return nil
}

// Addr is the configured address of a listener ("off" when disabled).
func (s *Server) Addr(ctx context.Context, sc scheme) (string, error) {
	return s.settings.Setting(ctx, schemes[sc].setting, schemes[sc].def)
}

// HTTPAddr is the configured HTTP address.
func (s *Server) HTTPAddr(ctx context.Context) (string, error) { return s.Addr(ctx, schemeHTTP) }

// HTTPSAddr is the configured HTTPS address.
func (s *Server) HTTPSAddr(ctx context.Context) (string, error) { return s.Addr(ctx, schemeHTTPS) }

// SetHTTPAddr configures the HTTP address; see setAddr.
func (s *Server) SetHTTPAddr(ctx context.Context, addr string) error {
	return s.setAddr(ctx, schemeHTTP, addr)
}

// SetHTTPSAddr configures the HTTPS address; see setAddr.
func (s *Server) SetHTTPSAddr(ctx context.Context, addr string) error {
	return s.setAddr(ctx, schemeHTTPS, addr)
}

// setAddr configures an address ("host:port", ":port" or "off") and, in a
// running kernel, moves the listener there: the new address is bound before
// the old one is let go, and requests in flight finish.
func (s *Server) setAddr(ctx context.Context, sc scheme, addr string) error {
	if addr != "off" {
		_, port, err := net.SplitHostPort(addr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			return kernel.E(kernel.Invalid, fmt.Sprintf("invalid address %q: want host:port, :port or off, the port a number up to 65535", addr))
		}
	}
	current, err := s.Addr(ctx, sc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	running := s.running
	bound := s.listeners[sc] != nil
	s.mu.Unlock()
	// The address it has already: nothing to do (binding it again would
	// fail with "address in use", against ourselves).
	if addr == current && (!running || bound == (addr != "off")) {
		return nil
	}
	if running && (sc == schemeHTTP || s.tls != nil) {
		// A refused move leaves the listener where it was, and the
		// status as it was: the reason goes to the writer.
		if err := s.listen(sc, addr); err != nil {
			return kernel.Wrap(kernel.Busy, fmt.Errorf("cannot listen on %s: %w", addr, err))
		}
	}
	return s.settings.PutSetting(ctx, schemes[sc].setting, addr)
}

// Ports are the ports the listeners are bound to, 0 for one that is not.
func (s *Server) Ports() (http, https int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	port := func(l *listener) int {
		if l == nil {
			return 0
		}
		_, p, _ := net.SplitHostPort(l.addr)
		n, _ := strconv.Atoi(p)
		return n
	}
	return port(s.listeners[schemeHTTP]), port(s.listeners[schemeHTTPS])
}

// listen binds addr and replaces the current listener of sc.
func (s *Server) listen(sc scheme, addr string) error {
	var l *listener
	name := schemes[sc].name
	if addr != "off" {
		ln := s.takeInherited(sc, addr)
		var err error
		if ln == nil {
			ln, err = net.Listen("tcp", addr)
		}
		if err != nil {
			return err
		}
		var h http.Handler = s
		if s.tls != nil {
			h = s.tls.HTTPChallenge(s)
		}
		l = &listener{addr: ln.Addr().String(), ln: ln, done: make(chan struct{}), conns: map[net.Conn]http.ConnState{},
			srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
				// Mostly TLS handshakes of scanners: noise, at debug.
				ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}}
		l.srv.ConnState = l.track
		serve := l.srv.Serve
		if sc == schemeHTTPS {
			// ServeTLS adds HTTP/2; the certificates come from the
			// configuration, not files.
			l.srv.TLSConfig = s.tls.TLSConfig()
			serve = func(ln net.Listener) error { return l.srv.ServeTLS(ln, "", "") }
		}
		limited := limitPerClient(ln, s.limits.ConnsPerClient)
		go func() {
			defer close(l.done)
			if err := serve(limited); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.log.Error(name+": serve", "addr", l.addr, "err", err)
			}
		}()
		s.log.Info(name+": listening", "addr", l.addr)
	}
	s.mu.Lock()
	old := s.listeners[sc]
	s.listeners[sc], s.errs[sc] = l, ""
	s.mu.Unlock()
	if old != nil {
		go old.close(10 * time.Second)
	}
	return nil
}

// close stops accepting and lets the requests in flight finish, within
// grace. It does not start with http.Server.Shutdown: a request read after
// Shutdown began is dropped unanswered (net/http returns from the
// connection when it sees the shutdown), and in an upgrade the connections
// accepted just before the listener closed are exactly those. So: close
// the listener, stop keeping connections alive (idle ones close), wait
// until no connection is new or active, and only then shut down.
func (l *listener) close(grace time.Duration) {
	deadline := time.Now().Add(grace)
	l.ln.Close()
	<-l.done // Serve has returned: every accepted connection is tracked
	l.srv.SetKeepAlivesEnabled(false)
	for l.busy() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		l.srv.Close()
	}
}

// track follows a connection's state (http.Server.ConnState).
func (l *listener) track(c net.Conn, st http.ConnState) {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	default:
		l.conns[c] = st
	}
}

// busy reports whether a connection is new (its request not read yet) or
// active.
func (l *listener) busy() bool {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	for _, st := range l.conns {
		if st == http.StateNew || st == http.StateActive {
			return true
		}
	}
	return false
}

// Close stops listening; requests in flight get grace to finish.
func (s *Server) Close(grace time.Duration) error {
	s.mu.Lock()
	ls := s.listeners
	s.listeners, s.running = [2]*listener{}, false
	if s.unsub != nil {
		s.unsub()
		s.unsub = nil
	}
	s.mu.Unlock()
	for _, l := range ls {
		if l != nil {
			l.close(grace)
		}
	}
	if s.store != nil {
		s.store.close() // kept: requests past the grace may still read it
	}
	return nil
}

// Status is "key value" lines for /net/status.
func (s *Server) Status() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	for sc, d := range schemes {
		addr, lastErr := "-", "-"
		if l := s.listeners[sc]; l != nil {
			addr = l.addr
		}
		if s.errs[sc] != "" {
			lastErr = strings.ReplaceAll(s.errs[sc], "\n", " ")
		}
		lines = append(lines, d.name+"_addr "+addr, d.name+"_error "+lastErr)
	}
	n, b := s.cache.usage()
	lines = append(lines, fmt.Sprintf("cache_entries %d", n), fmt.Sprintf("cache_bytes %d", b))
	files, stored, queued := 0, int64(0), 0
	if s.store != nil {
		files, stored, queued = s.store.usage()
	}
	return append(lines, fmt.Sprintf("store_files %d", files), fmt.Sprintf("store_bytes %d", stored), fmt.Sprintf("store_queued %d", queued))
}
