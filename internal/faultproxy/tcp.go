package faultproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// dialTimeout bounds connecting to a TCP proxy's target.
const dialTimeout = 5 * time.Second

// TCPStats counts what a TCP proxy saw.
type TCPStats struct {
	Accepted int // connections forwarded to the target
	Refused  int // connections reset on arrival while down, or because the target did not answer
	Cut      int // open connections reset by Down
}

// TCP is a TCP proxy that can be taken down. Make it with NewTCP.
type TCP struct {
	ln     net.Listener
	target string
	cancel context.CancelFunc // ends dials on Close
	dial   func() (net.Conn, error)
	wg     sync.WaitGroup // the accept loop and the connections

	mu     sync.Mutex
	down   bool
	closed bool
	links  map[*link]struct{}
	stats  TCPStats
}

// link is a forwarded connection.
type link struct {
	client, server net.Conn // server is nil while dialing
}

// NewTCP starts a proxy to target (host:port) on a free port of 127.0.0.1.
func NewTCP(target string) (*TCP, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &net.Dialer{Timeout: dialTimeout}
	t := &TCP{ln: ln, target: target, cancel: cancel, links: map[*link]struct{}{}}
	t.dial = func() (net.Conn, error) { return d.DialContext(ctx, "tcp", target) }
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

// Addr returns the address the proxy listens on, 127.0.0.1:port.
func (t *TCP) Addr() string { return t.ln.Addr().String() }

// Down resets every open connection and, until Up, resets new ones as soon as
// they are accepted. The proxy keeps its port.
func (t *TCP) Down() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.down = true
	for l := range t.links {
		l.abort()
		t.stats.Cut++
		delete(t.links, l)
	}
}

// Up forwards new connections again.
func (t *TCP) Up() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.down = false
}

// Stats returns the counts so far.
func (t *TCP) Stats() TCPStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// Close stops listening, resets every connection and waits for the proxy's
// goroutines to end.
func (t *TCP) Close() error {
	t.mu.Lock()
	t.closed = true
	for l := range t.links {
		l.abort()
	}
	t.mu.Unlock()
	t.cancel()
	err := t.ln.Close()
	t.wg.Wait()
	return err
}

func (t *TCP) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return // closed
		}
		t.mu.Lock()
		if t.down || t.closed {
			t.stats.Refused++
			t.mu.Unlock()
			abort(c)
			continue
		}
		l := &link{client: c}
		t.links[l] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serve(l)
	}
}

func (t *TCP) serve(l *link) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.links, l)
		t.mu.Unlock()
	}()
	s, err := t.dial()
	t.mu.Lock()
	_, open := t.links[l]
	open = open && !t.closed // not cut by Down or Close meanwhile
	switch {
	case err != nil:
		t.stats.Refused++
		abort(l.client)
	case !open:
		abort(s)
	default:
		t.stats.Accepted++
		l.server = s
	}
	t.mu.Unlock()
	if err != nil || !open {
		return
	}

	// Copy both ways. A side that ends cleanly half-closes the other; an error
	// resets both.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pipe(l, s, l.client)
	}()
	pipe(l, l.client, s)
	wg.Wait()
	_ = l.client.Close()
	_ = s.Close()
}

func pipe(l *link, dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		l.abort()
		return
	}
	if hc, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
}

// abort resets both connections of l.
func (l *link) abort() {
	abort(l.client)
	if l.server != nil {
		abort(l.server)
	}
}

// abort closes c with a reset (SO_LINGER 0), so the peer sees ECONNRESET.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
