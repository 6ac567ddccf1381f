package httpd

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// recordingConn is a connection with ReadFrom, as *net.TCPConn has
// (sendfile): it records what reached it that way.
type recordingConn struct {
	net.Conn
	readFrom int64
}

func (c *recordingConn) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(io.Discard, r)
	c.readFrom += n
	return n, err
}

type oneConnListener struct {
	net.Listener
	c net.Conn
}

func (l *oneConnListener) Accept() (net.Conn, error) { return l.c, nil }

// The per-client wrapper keeps the connection's ReadFrom, which net/http
// needs to send a file with sendfile; without it, every stored body went
// out through 32 KiB writes.
func TestCountedConnKeepsReadFrom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	real, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	inner := &recordingConn{Conn: real}
	c, err := limitPerClient(&oneConnListener{Listener: ln, c: inner}, 4).Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rf, ok := c.(io.ReaderFrom)
	if !ok {
		t.Fatal("the wrapped connection has no ReadFrom: net/http cannot use sendfile through it")
	}
	path := filepath.Join(t.TempDir(), "body")
	os.WriteFile(path, bytes.Repeat([]byte("x"), 100<<10), 0o644)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := rf.ReadFrom(io.LimitReader(f, 1<<40)); err != nil || n != 100<<10 {
		t.Fatalf("ReadFrom: %d %v", n, err)
	}
	if inner.readFrom != 100<<10 {
		t.Fatalf("the connection's own ReadFrom got %d bytes, want all %d", inner.readFrom, 100<<10)
	}
}
