package httpd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/net/route"
	"golang.org/x/sync/singleflight"
)

// Settings is where the server keeps its configuration (the database).
type Settings interface {
	Setting(ctx context.Context, key, def string) (string, error)
	PutSetting(ctx context.Context, key, value string) error
	SettingTime(ctx context.Context, key string) (time.Time, error)
}

// Server is the front door.
type Server struct {
	k        *kernel.Kernel
	routes   *route.Table
	settings Settings
	log      *slog.Logger
	cache    *cache
	storeDir string                 // where the store is kept; set before Open ("": no store)
	room     func(need int64) error // the database's room check, for the store
	store    *store                 // made by Open
	tls      TLS                    // nil: no HTTPS; set before Open
	api      http.Handler           // the remote API (route target @api); set before Open
	limits   Limits                 // set before Open

	proxies sync.Map           // target URL -> *httputil.ReverseProxy
	fills   singleflight.Group // cache misses being resolved, by key

	mu        sync.Mutex // guards the fields below
	running   bool
	inherited map[string]net.Listener // by scheme name: sockets handed over by the previous kernel
	listeners [2]*listener            // by scheme
	errs      [2]string               // by scheme: why the configured address could not be bound
	unsub     func()
}

// New returns a server for k's sites and routes. It listens only once
// Open is called: a kernel booted for one CLI command never does.
func New(k *kernel.Kernel, routes *route.Table, settings Settings) *Server {
	return &Server{k: k, routes: routes, settings: settings, log: k.Log, cache: newCache(64 << 20), limits: DefaultLimits}
}

// ShedCache drops the cached responses (under memory pressure).
func (s *Server) ShedCache() { s.cache.clear() }

// SetStore says where Open keeps the store of materialized forms (a
// directory of the data directory) and what says whether the disk has
// room for them (the database's Room, so the store never takes its
// reserve).
func (s *Server) SetStore(dir string, room func(need int64) error) { s.storeDir, s.room = dir, room }

// SetAPI sets what serves the hosts routed to @api.
func (s *Server) SetAPI(h http.Handler) { s.api = h }

// serveAPI hands a request to the remote API. Tokens travel in the
// request, so plain HTTP is served only from this machine (an SSH
// tunnel, a test); elsewhere HTTPS is required.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if s.api == nil {
		s.plain(w, http.StatusNotFound, "the remote API is not available")
		return
	}
	if r.TLS == nil && !loopback(r.RemoteAddr) {
		s.plain(w, http.StatusForbidden, "the remote API is served over HTTPS only: turn TLS on (echo 'tls on' > /net/ctl)")
		return
	}
	s.api.ServeHTTP(w, r)
}

// loopback says whether a remote address is this machine's.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeHTTP routes a request by its host.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("http: panic", "panic", fmt.Sprint(p), "host", r.Host, "path", r.URL.Path, "stack", string(debug.Stack()))
			s.plain(w, http.StatusInternalServerError, "internal error")
		}
	}()
	paceBody(w, r, s.limits)
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	if r.TLS == nil && s.tls != nil && s.tls.Secure(host) {
		if to, ok := s.httpsURL(r, host); ok {
			code := http.StatusPermanentRedirect
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				code = http.StatusMovedPermanently
			}
			http.Redirect(w, r, to, code)
			return
		}
	}
	rt, ok := s.routes.Match(host)
	if !ok {
		s.plain(w, http.StatusNotFound, "no site is configured for "+host)
		return
	}
	kind, arg, _ := strings.Cut(rt.Target, " ")
	switch kind {
	case route.API:
		s.serveAPI(w, r)
	case "redirect":
		s.redirect(w, r, arg)
	case "proxy":
		s.proxy(w, r, arg)
	default:
		s.serveSite(w, r, kind)
	}
}

// httpsURL is the address of r over HTTPS, when HTTPS listens. A request
// that named its port (host:8080) is sent to the HTTPS port; one that did
// not came to port 80, perhaps forwarded, and goes to 443.
func (s *Server) httpsURL(r *http.Request, host string) (string, bool) {
	_, port := s.Ports()
	if port == 0 {
		return "", false
	}
	u := *r.URL
	u.Scheme, u.Host = "https", host
	if _, _, err := net.SplitHostPort(r.Host); err == nil && port != 443 {
		u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	}
	return u.String(), true
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
