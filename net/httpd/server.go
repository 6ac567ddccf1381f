package httpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/net/route"
)

// Settings is where the server keeps its configuration (the database).
type Settings interface {
	Setting(ctx context.Context, key, def string) (string, error)
	PutSetting(ctx context.Context, key, value string) error
}

// DefaultHTTPAddr is where HTTP listens unless configured: unprivileged.
const DefaultHTTPAddr = ":8080"

// Server is the front door.
type Server struct {
	k        *kernel.Kernel
	routes   *route.Table
	settings Settings
	log      *slog.Logger
	cache    *cache

	proxies sync.Map // target URL -> *httputil.ReverseProxy

	mu      sync.Mutex // guards the fields below
	running bool
	http    *listener
	httpErr string
	unsub   func()
}

// listener is one bound address and its server.
type listener struct {
	addr string // as bound (the port chosen for ":0")
	srv  *http.Server
	done chan struct{}
}

// New returns a server for k's sites and routes. It listens only once
// Open is called: a kernel booted for one CLI command never does.
func New(k *kernel.Kernel, routes *route.Table, settings Settings) *Server {
	return &Server{k: k, routes: routes, settings: settings, log: k.Log, cache: newCache(64 << 20)}
}

// Open starts listening on the configured address and follows changes to
// the tree to keep the cache right. A listener that cannot bind is logged
// and shown in /net/status; the kernel runs on.
func (s *Server) Open(ctx context.Context) error {
	s.mu.Lock()
	s.running = true
	s.unsub = s.k.NS.Subscribe(func(c kernel.Change) {
		s.cache.invalidate(c.Ino)
		if c.Dir != 0 {
			s.cache.invalidate(c.Dir)
		}
	})
	s.mu.Unlock()
	addr, err := s.settings.Setting(ctx, "net.http", DefaultHTTPAddr)
	if err != nil {
		return err
	}
	if err := s.listen(addr); err != nil {
		s.log.Error("http: cannot listen", "addr", addr, "err", err)
	}
	return nil
}

// HTTPAddr is the configured HTTP address ("off" when disabled).
func (s *Server) HTTPAddr(ctx context.Context) (string, error) {
	return s.settings.Setting(ctx, "net.http", DefaultHTTPAddr)
}

// SetHTTPAddr configures the HTTP address ("host:port", ":port" or "off")
// and, in a running kernel, moves the listener there: the new address is
// bound before the old one is let go, and requests in flight finish.
func (s *Server) SetHTTPAddr(ctx context.Context, addr string) error {
	if addr != "off" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return kernel.E(kernel.Invalid, fmt.Sprintf("invalid address %q: want host:port, :port or off", addr))
		}
	}
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running {
		if err := s.listen(addr); err != nil {
			return kernel.Wrap(kernel.Busy, fmt.Errorf("cannot listen on %s: %w", addr, err))
		}
	}
	return s.settings.PutSetting(ctx, "net.http", addr)
}

// listen binds addr and replaces the current listener.
func (s *Server) listen(addr string) error {
	var l *listener
	if addr != "off" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			s.mu.Lock()
			s.httpErr = err.Error()
			s.mu.Unlock()
			return err
		}
		l = &listener{addr: ln.Addr().String(), done: make(chan struct{}),
			srv: &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
				ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}}
		go func() {
			defer close(l.done)
			if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("http: serve", "addr", l.addr, "err", err)
			}
		}()
		s.log.Info("http: listening", "addr", l.addr)
	}
	s.mu.Lock()
	old := s.http
	s.http, s.httpErr = l, ""
	s.mu.Unlock()
	if old != nil {
		go old.close(10 * time.Second)
	}
	return nil
}

func (l *listener) close(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		l.srv.Close()
	}
	<-l.done
}

// Close stops listening; requests in flight get grace to finish.
func (s *Server) Close(grace time.Duration) error {
	s.mu.Lock()
	l := s.http
	s.http, s.running = nil, false
	if s.unsub != nil {
		s.unsub()
		s.unsub = nil
	}
	s.mu.Unlock()
	if l != nil {
		l.close(grace)
	}
	return nil
}

// Status is "key value" lines for /net/status.
func (s *Server) Status() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	addr, lastErr := "-", "-"
	if s.http != nil {
		addr = s.http.addr
	}
	if s.httpErr != "" {
		lastErr = strings.ReplaceAll(s.httpErr, "\n", " ")
	}
	n, b := s.cache.usage()
	return []string{
		"http_addr " + addr,
		"http_error " + lastErr,
		fmt.Sprintf("cache_entries %d", n),
		fmt.Sprintf("cache_bytes %d", b),
	}
}

// ServeHTTP routes a request by its host.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("http: panic", "panic", fmt.Sprint(p), "host", r.Host, "path", r.URL.Path)
			s.plain(w, http.StatusInternalServerError, "internal error")
		}
	}()
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	rt, ok := s.routes.Match(host)
	if !ok {
		s.plain(w, http.StatusNotFound, "no site is configured for "+host)
		return
	}
	kind, arg, _ := strings.Cut(rt.Target, " ")
	switch kind {
	case "redirect":
		s.redirect(w, r, arg)
	case "proxy":
		s.proxy(w, r, arg)
	default:
		s.serveSite(w, r, kind)
	}
}

// redirect answers with a redirect to target plus the request's path and
// query: 301 for GET and HEAD, 308 (which keeps the method) otherwise.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, target string) {
	u, err := url.Parse(target)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + r.URL.Path
	u.RawPath = ""
	if r.URL.RawQuery != "" {
		u.RawQuery = r.URL.RawQuery
	}
	code := http.StatusPermanentRedirect
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		code = http.StatusMovedPermanently
	}
	http.Redirect(w, r, u.String(), code)
}

// proxy passes the request to target.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, target string) {
	p, ok := s.proxies.Load(target)
	if !ok {
		u, err := url.Parse(target)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.SetXForwarded()
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				s.log.Warn("http: proxy", "target", target, "err", err)
				s.plain(w, http.StatusBadGateway, "the site behind this address does not answer")
			},
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		p, _ = s.proxies.LoadOrStore(target, rp)
	}
	p.(*httputil.ReverseProxy).ServeHTTP(w, r)
}

// plain answers with a short text page.
func (s *Server) plain(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// fail answers an error from the kernel: its kind's status, and for an
// internal one a log line and no detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	kind := kernel.KindOf(err)
	if kind == kernel.Internal {
		s.log.Error("http: internal error", "host", r.Host, "path", r.URL.Path, "err", err)
	}
	s.plain(w, kind.HTTPStatus(), strings.ToLower(http.StatusText(kind.HTTPStatus())))
}
