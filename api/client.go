package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// Client calls a kernel's API.
type Client struct {
	http  *http.Client
	base  string // scheme and host; the path is the tree path
	token string // a bearer token, for a remote kernel
}

// Remote returns a client for the kernel at base (https://admin.example.com)
// authenticating with token; hc is nil for http.DefaultClient's settings.
func Remote(base, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{http: hc, base: strings.TrimSuffix(base, "/"), token: token}
}

// Dial returns a client for the kernel serving the Unix socket at path.
func Dial(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{http: &http.Client{Transport: tr}, base: "http://fazt"}
}

func (c *Client) url(p string, q url.Values) string {
	u := url.URL{Path: p, RawQuery: q.Encode()}
	return c.base + u.String()
}

func (c *Client) do(ctx context.Context, method, p string, q url.Values, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(p, q), body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, kernel.At(strings.ToLower(method), p, kernel.Wrap(kernel.Unavailable, fmt.Errorf("the kernel does not answer: %w", err)))
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp, method, p)
	}
	return resp, nil
}

// decodeError rebuilds the kernel's error from a response.
func decodeError(resp *http.Response, method, p string) error {
	var b errorBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&b); err != nil || b.Kind == "" {
		return kernel.At(strings.ToLower(method), p, kernel.E(kernel.Internal, "the kernel answered "+resp.Status))
	}
	return &kernel.Error{Op: b.Op, Path: b.Path, Kind: kernel.KindFromID(b.Kind), Err: fmt.Errorf("%s", b.Error)}
}

func (c *Client) noContent(ctx context.Context, method, p string, q url.Values) error {
	resp, err := c.do(ctx, method, p, q, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Stat returns the attributes of p (not following a final link).
func (c *Client) Stat(ctx context.Context, p string) (Attr, error) {
	var a Attr
	resp, err := c.do(ctx, http.MethodGet, p, url.Values{"op": {"stat"}}, nil)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	return a, json.NewDecoder(resp.Body).Decode(&a)
}

// List returns the entries of directory p with their attributes.
func (c *Client) List(ctx context.Context, p string) ([]Attr, error) {
	var out []Attr
	resp, err := c.do(ctx, http.MethodGet, p, url.Values{"op": {"list"}}, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// Open reads file p.
func (c *Client) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, p, nil, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Create writes file p: what is written to the writer is streamed to the
// kernel, and Close returns the kernel's verdict.
func (c *Client) Create(ctx context.Context, p string, mode uint32) io.WriteCloser {
	pr, pw := io.Pipe()
	w := &putWriter{pw: pw, done: make(chan error, 1)}
	go func() {
		resp, err := c.do(ctx, http.MethodPut, p, url.Values{"mode": {fmt.Sprintf("%o", mode)}}, pr)
		if err == nil {
			resp.Body.Close()
		}
		pr.CloseWithError(err) // unblock a writer if the kernel answered early
		w.done <- err
	}()
	return w
}

type putWriter struct {
	pw   *io.PipeWriter
	done chan error
}

func (w *putWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

func (w *putWriter) Close() error {
	w.pw.Close()
	return <-w.done
}

// Mkdir makes directory p, and its parents with parents.
func (c *Client) Mkdir(ctx context.Context, p string, mode uint32, parents bool) error {
	q := url.Values{"op": {"mkdir"}, "mode": {fmt.Sprintf("%o", mode)}}
	if parents {
		q.Set("parents", "1")
	}
	return c.noContent(ctx, http.MethodPost, p, q)
}

// Remove removes p, and everything below it with recursive.
func (c *Client) Remove(ctx context.Context, p string, recursive bool) error {
	q := url.Values{}
	if recursive {
		q.Set("recursive", "1")
	}
	return c.noContent(ctx, http.MethodDelete, p, q)
}

// Rename moves p to to.
func (c *Client) Rename(ctx context.Context, p, to string) error {
	return c.noContent(ctx, http.MethodPost, p, url.Values{"op": {"rename"}, "to": {to}})
}

// Call writes request to the call file p and returns its answer.
func (c *Client) Call(ctx context.Context, p string, request []byte) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodPost, p, url.Values{"op": {"call"}}, bytes.NewReader(request))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, MaxCall))
}

// LoginAnswer is what a login returns.
type LoginAnswer struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
}

// Login trades the root password for a token (remote kernels only).
func (c *Client) Login(ctx context.Context, password string) (LoginAnswer, error) {
	var a LoginAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/", url.Values{"op": {"login"}}), nil)
	if err != nil {
		return a, err
	}
	req.SetBasicAuth("root", password)
	resp, err := c.http.Do(req)
	if err != nil {
		return a, kernel.At("login", c.base, kernel.Wrap(kernel.Unavailable, fmt.Errorf("the kernel does not answer: %w", err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return a, decodeError(resp, "login", "/")
	}
	return a, json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&a)
}

// Clone copies the tree at p to to by reference (op=clone).
func (c *Client) Clone(ctx context.Context, p, to string) error {
	return c.noContent(ctx, http.MethodPost, p, url.Values{"op": {"clone"}, "to": {to}})
}

// Exchange swaps p and to atomically (op=exchange).
func (c *Client) Exchange(ctx context.Context, p, to string) error {
	return c.noContent(ctx, http.MethodPost, p, url.Values{"op": {"exchange"}, "to": {to}})
}

// Symlink makes p a symbolic link to target.
func (c *Client) Symlink(ctx context.Context, target, p string) error {
	resp, err := c.do(ctx, http.MethodPost, p, url.Values{"op": {"symlink"}, "target": {target}}, nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Link asks the server to clone each pair's From at its To (op=link) and
// returns the indexes of the pairs whose From was not there.
func (c *Client) Link(ctx context.Context, pairs []LinkPair) ([]int, error) {
	body, err := json.Marshal(pairs)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, http.MethodPost, "/", url.Values{"op": {"link"}}, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var a LinkAnswer
	return a.Missing, json.NewDecoder(resp.Body).Decode(&a)
}

// Whoami returns the name the server knows this client by: its token's
// name, or "" through the local socket.
func (c *Client) Whoami(ctx context.Context) (string, error) {
	var w Whoami
	resp, err := c.do(ctx, http.MethodGet, "/", url.Values{"op": {"whoami"}}, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	return w.Name, json.NewDecoder(resp.Body).Decode(&w)
}

// Sums returns the manifest of the tree at p (op=sums), without the
// entries of p named in skip.
func (c *Client) Sums(ctx context.Context, p string, skip ...string) (Sums, error) {
	var s Sums
	resp, err := c.do(ctx, http.MethodGet, p, url.Values{"op": {"sums"}, "skip": skip}, nil)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}
