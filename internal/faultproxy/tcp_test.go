package faultproxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/faultproxy"
)

// newTCP starts an echo server, which sends back what it reads and
// half-closes at EOF, and a proxy in front of it.
func newTCP(t *testing.T) *faultproxy.TCP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if _, err := io.Copy(c, c); err == nil {
					_ = c.(*net.TCPConn).CloseWrite()
				}
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	p, err := faultproxy.NewTCP(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // fail, don't hang
	return c.(*net.TCPConn)
}

// ping sends a line and checks that it comes back.
func ping(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("read %q, %v; want the echo", buf, err)
	}
}

// dialRead connects to addr and reads a byte, and returns the error. As the
// proxy resets a refused connection at once, the error may come from Dial.
func dialRead(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return err
}

// TestTCPHalfClose sends 1 MiB, half-closes, and reads the echo to EOF.
func TestTCPHalfClose(t *testing.T) {
	t.Parallel()
	p := newTCP(t)
	c := dial(t, p.Addr())
	data, _ := io.ReadAll(stream(1 << 20))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("echo has %d bytes, want the %d sent", len(got), len(data))
	}
}

func TestTCPDownUp(t *testing.T) {
	t.Parallel()
	p := newTCP(t)
	open := dial(t, p.Addr())
	ping(t, open)

	p.Down()
	if _, err := open.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("open connection after Down: read error %v, want ECONNRESET", err)
	}
	// The proxy still accepts, and resets.
	if err := dialRead(p.Addr()); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("new connection while down: read error %v, want a reset or EOF", err)
	}

	p.Up()
	ping(t, dial(t, p.Addr()))

	want := faultproxy.TCPStats{Accepted: 2, Refused: 1, Cut: 1}
	if diff := cmp.Diff(want, p.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestTCPTargetDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	p, err := faultproxy.NewTCP(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := dialRead(p.Addr()); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read error %v, want a reset or EOF", err)
	}
	if got := p.Stats(); got.Refused != 1 {
		t.Errorf("Stats = %+v, want 1 refused", got)
	}
}
