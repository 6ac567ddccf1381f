package httpd

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what one client can hold of the server: slow clients
// (slowloris: headers or bodies sent a byte at a time) would otherwise keep
// connections, goroutines and memory for as long as they like.
type Limits struct {
	// ConnsPerClient bounds the open connections of one IP address;
	// more are closed as they are accepted.
	ConnsPerClient int
	// BodyStall cuts a request body that sends nothing for this long.
	BodyStall time.Duration
	// BodyGrace and BodyRate cut a body that, after BodyGrace, has come
	// slower than BodyRate bytes a second on average: a byte now and then
	// does not keep a connection.
	BodyGrace time.Duration
	BodyRate  int64
}

// DefaultLimits are generous for people and tools (a 1 KiB/s upload is
// still served; 256 connections from one address is more than browsers
// and load tests on loopback open) and cut what only an attack does.
var DefaultLimits = Limits{ConnsPerClient: 256, BodyStall: 30 * time.Second, BodyGrace: 30 * time.Second, BodyRate: 1 << 10}

// SetLimits changes the limits; call before Open.
func (s *Server) SetLimits(l Limits) { s.limits = l }

// perClient wraps a listener so that one address holds at most max
// connections at once; a connection over it is closed at once.
type perClient struct {
	net.Listener
	max int

	mu sync.Mutex // guards open
	// open counts the connections of each address; an address is
	// deleted at zero, so the map holds only addresses connected now.
	open map[string]int
}

func limitPerClient(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &perClient{Listener: ln, max: max, open: map[string]int{}}
}

func (l *perClient) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, err := net.SplitHostPort(c.RemoteAddr().String())
		if err != nil {
			host = c.RemoteAddr().String()
		}
		l.mu.Lock()
		if l.open[host] >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open[host]++
		l.mu.Unlock()
		return &countedConn{Conn: c, l: l, host: host}, nil
	}
}

type countedConn struct {
	net.Conn
	l    *perClient
	host string
	once sync.Once
}

// ReadFrom hands a response's body to the connection's own ReadFrom: a
// TCP connection sends a file with sendfile(2), which net/http uses only
// when the connection it holds has ReadFrom (behind this wrapper, every
// stored body went out through 32 KiB writes).
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.open[c.host]--; c.l.open[c.host] <= 0 {
			delete(c.l.open, c.host)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// paced reads a request body under the limits: before each read the
// connection's read deadline is set to when the body would be too slow.
type paced struct {
	io.ReadCloser
	rc    *http.ResponseController
	lim   Limits
	start time.Time
	got   int64
}

// paceBody puts r's body under lim.
func paceBody(w http.ResponseWriter, r *http.Request, lim Limits) {
	if r.Body == nil || r.Body == http.NoBody || lim.BodyStall <= 0 {
		return
	}
	r.Body = &paced{ReadCloser: r.Body, rc: http.NewResponseController(w), lim: lim, start: time.Now()}
}

func (p *paced) Read(b []byte) (int, error) {
	now := time.Now()
	deadline := now.Add(p.lim.BodyStall)
	if p.lim.BodyRate > 0 {
		due := p.start.Add(p.lim.BodyGrace + time.Duration(p.got*int64(time.Second)/p.lim.BodyRate))
		if due.Before(deadline) {
			deadline = due
		}
	}
	p.rc.SetReadDeadline(deadline) // not every connection can (then only the header timeout holds)
	n, err := p.ReadCloser.Read(b)
	p.got += int64(n)
	return n, err
}
