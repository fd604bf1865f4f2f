package mail

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSMTP is just enough of an SMTP server to script replies: it answers
// RCPT TO from rcpt, offers STARTTLS when starttls is set, speaks TLS from the
// start when implicit is set, and stalls (answers nothing more) after MAIL
// FROM when stall is set.
type fakeSMTP struct {
	ln       net.Listener
	tls      *tls.Config
	starttls bool
	implicit bool
	stall    bool
	rcpt     func(addr string) string // the reply to RCPT TO; nil: 250

	mu       sync.Mutex
	sessions []session
}

// session is what the fake server saw of one connection.
type session struct {
	TLS        bool // at the time of MAIL FROM
	User, Pass string
	Rcpts      []string
	Data       string
}

func startFake(t *testing.T, f *fakeSMTP) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if f.implicit {
		ln = tls.NewListener(ln, f.tls)
	}
	f.ln = ln
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { f.serve(c) })
		}
	})
	return f
}

func (f *fakeSMTP) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *fakeSMTP) got() []session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]session(nil), f.sessions...)
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var s session
	_, s.TLS = c.(*tls.Conn)
	r, w := textproto.NewReader(bufio.NewReader(c)), bufio.NewWriter(c)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			_, _ = w.WriteString(l + "\r\n") // Flush reports the error
		}
		return w.Flush() == nil
	}
	if !reply("220 fake ESMTP") {
		return
	}
	for {
		line, err := r.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"250-fake"}
			if f.starttls && !s.TLS {
				lines = append(lines, "250-STARTTLS")
			}
			reply(append(lines, "250-8BITMIME", "250 AUTH PLAIN")...)
		case "HELO", "NOOP", "RSET":
			reply("250 2.0.0 OK")
		case "STARTTLS":
			reply("220 2.0.0 go ahead")
			tc := tls.Server(c, f.tls)
			if tc.Handshake() != nil {
				return
			}
			c, s.TLS = tc, true
			r, w = textproto.NewReader(bufio.NewReader(c)), bufio.NewWriter(c)
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(ir)
			parts := strings.Split(string(b), "\x00")
			if mech != "PLAIN" || err != nil || len(parts) != 3 {
				reply("501 5.5.2 bad AUTH")
				continue
			}
			s.User, s.Pass = parts[1], parts[2]
			if s.Pass == "wrong" {
				reply("535 5.7.8 authentication failed for " + s.User)
				continue
			}
			reply("235 2.7.0 OK")
		case "MAIL":
			if f.stall {
				_, _ = io.Copy(io.Discard, c) // until the client hangs up
				return
			}
			s.Rcpts, s.Data = nil, "" // a new message in the same session
			reply("250 2.1.0 OK")
		case "RCPT":
			addr := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(arg, "TO:"), "<"), ">")
			answer := "250 2.1.5 OK"
			if f.rcpt != nil {
				if a := f.rcpt(addr); a != "" {
					answer = a
				}
			}
			if strings.HasPrefix(answer, "250") {
				s.Rcpts = append(s.Rcpts, addr)
			}
			reply(answer)
		case "DATA":
			reply("354 go ahead")
			b, err := r.ReadDotBytes()
			if err != nil {
				return
			}
			s.Data = string(b)
			f.mu.Lock()
			f.sessions = append(f.sessions, s)
			f.mu.Unlock()
			reply("250 2.0.0 queued")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.1 unknown command")
		}
	}
}

// testTLS returns a server config with a fresh certificate for 127.0.0.1
// and a pool that trusts it.
func testTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fake smtp"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, pool
}

func newTestSender(t *testing.T, url string, roots *x509.CertPool) *Sender {
	t.Helper()
	s, err := NewSender(Config{URL: url, From: "userimport@localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if roots != nil {
		s.tls.RootCAs = roots
	}
	return s
}

func TestSendDelivers(t *testing.T) {
	t.Parallel()
	serverTLS, roots := testTLS(t)
	tests := []struct {
		name               string
		starttls, implicit bool   // what the fake server offers
		url                string // %d: the fake's port
		wantTLS            bool
		user               string
	}{
		{name: "plain", url: "smtp://127.0.0.1:%d"},
		{name: "auth on the loopback without TLS", url: "smtp://bob:pw@127.0.0.1:%d", user: "bob"},
		{name: "STARTTLS when offered", starttls: true, url: "smtp://bob:pw@127.0.0.1:%d", wantTLS: true, user: "bob"},
		{name: "tls=none ignores STARTTLS", starttls: true, url: "smtp://127.0.0.1:%d?tls=none"},
		{name: "tls=required", starttls: true, url: "smtp://127.0.0.1:%d?tls=required", wantTLS: true},
		{name: "smtps", implicit: true, url: "smtps://bob:pw@127.0.0.1:%d", wantTLS: true, user: "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, &fakeSMTP{tls: serverTLS, starttls: tt.starttls, implicit: tt.implicit})
			s := newTestSender(t, fmt.Sprintf(tt.url, fake.port()), roots)
			if err := s.Send(t.Context(), []string{"Jane Doe <jane@example.com>", "ops@example.com"}, finished()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			// Each recipient gets a message of its own, which names nobody
			// else: recipients never see each other's addresses.
			got := fake.got()
			if len(got) != 2 {
				t.Fatalf("%d messages, want 2 (one per recipient)", len(got))
			}
			for i, rcpt := range []string{"jane@example.com", "ops@example.com"} {
				m := got[i]
				m.Data = strings.ReplaceAll(m.Data, "\n ", " ") // unfold headers (ReadDotBytes made CRLF LF)
				if m.TLS != tt.wantTLS || m.User != tt.user || strings.Join(m.Rcpts, ",") != rcpt {
					t.Errorf("message %d: TLS %v, user %q, recipients %v; want TLS %v, user %q, recipient %s",
						i, m.TLS, m.User, m.Rcpts, tt.wantTLS, tt.user, rcpt)
				}
				other := map[int]string{0: "ops@example.com", 1: "jane@example.com"}[i]
				if strings.Contains(m.Data, other) {
					t.Errorf("message %d to %s names %s:\n%s", i, rcpt, other, m.Data)
				}
				for _, want := range []string{
					"Subject: Import of users.csv: 9,900 created, 0 updated, 0 unchanged, 100 rejected",
					"Auto-Submitted: auto-generated", "Content-Type: text/plain", "Content-Type: text/html",
					`Content-Type: text/csv; charset=utf-8; name="users-errors.csv"`,
					`Content-Disposition: attachment; filename="users-errors.csv"`,
					"To: ",
				} {
					if !strings.Contains(m.Data, want) {
						t.Errorf("message %d lacks %q:\n%s", i, want, m.Data)
					}
				}
			}
		})
	}
}

func TestSendTLSRequiredButNotOffered(t *testing.T) {
	t.Parallel()
	fake := startFake(t, &fakeSMTP{})
	s := newTestSender(t, fmt.Sprintf("smtp://127.0.0.1:%d?tls=required", fake.port()), nil)
	err := s.Send(t.Context(), []string{"jane@example.com"}, finished())
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send: err = %v, want a retryable STARTTLS error", err)
	}
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	rcpt := func(addr string) string {
		switch {
		case strings.HasPrefix(addr, "gone"):
			return "550 5.1.1 <" + addr + ">: mailbox unavailable"
		case strings.HasPrefix(addr, "full"):
			return "452 4.2.2 <" + strings.ToUpper(addr) + ">: mailbox full, try later"
		}
		return ""
	}
	tests := []struct {
		name      string
		url       string
		to        []string
		permanent bool
		want      string // in the error
		delivered int    // messages the others got
	}{
		{name: "5xx on RCPT", to: []string{"gone@example.com"}, permanent: true, want: `550 "5.1.1 <<recipient>>: mailbox unavailable"`},
		// One refused recipient does not keep the message from the others.
		{name: "one of two refused", to: []string{"ok@example.com", "Gone <gone@example.com>"}, permanent: true, want: "550", delivered: 1},
		{name: "the first of two refused", to: []string{"gone@example.com", "ok@example.com"}, permanent: true, want: "1 of 2 messages not sent", delivered: 1},
		// A retry may repeat the message to those who got it: at least once.
		{name: "one of two refused for now", to: []string{"ok@example.com", "full@example.com"}, want: "452", delivered: 1},
		{name: "4xx on RCPT", to: []string{"full@example.com"}, want: `452 "4.2.2 <<recipient>>: mailbox full`},
		{name: "login refused", url: "smtp://bob:wrong@127.0.0.1:%d", to: []string{"ok@example.com"}, want: `SMTP AUTH failed: 535 "5.7.8`},
		{name: "malformed address", to: []string{"ok@example.com", "not an address"}, permanent: true, want: "mail: recipient 2 of 2: "},
		{name: "no recipients", permanent: true, want: "mail: no recipients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, &fakeSMTP{rcpt: rcpt})
			url := "smtp://127.0.0.1:%d"
			if tt.url != "" {
				url = tt.url
			}
			s := newTestSender(t, fmt.Sprintf(url, fake.port()), nil)
			err := s.Send(t.Context(), tt.to, finished())
			if err == nil {
				t.Fatal("Send: no error")
			}
			if got := IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			for _, a := range []string{"gone@", "full@", "GONE@", "FULL@", "ok@", "not an address", "wrong"} {
				if strings.Contains(err.Error(), a) {
					t.Errorf("error %q shows %q", err, a)
				}
			}
			if n := len(fake.got()); n != tt.delivered {
				t.Errorf("%d messages delivered, want %d", n, tt.delivered)
			}
		})
	}
}

// A port with nothing listening: a transient error, without the password.
func TestSendConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	s := newTestSender(t, fmt.Sprintf("smtp://bob:hunter2-pw@127.0.0.1:%d", port), nil)
	err = s.Send(t.Context(), []string{"jane@example.com"}, finished())
	if err == nil {
		t.Fatal("Send: no error")
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true, want false", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %v does not wrap a *net.OpError", err)
	}
	if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "jane@") ||
		!strings.Contains(msg, fmt.Sprintf("smtp 127.0.0.1:%d: ", port)) {
		t.Errorf("error text %q", msg)
	}
}

// A server that stops answering: Send returns when ctx is done, not after
// go-mail's own timeouts.
func TestSendHonoursContext(t *testing.T) {
	t.Parallel()
	for _, deadline := range []bool{false, true} {
		t.Run(fmt.Sprintf("deadline=%v", deadline), func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, &fakeSMTP{stall: true})
			s := newTestSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", fake.port()), nil)
			var (
				ctx    context.Context
				cancel context.CancelFunc
				want   error
			)
			if deadline {
				ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
				want = context.DeadlineExceeded
			} else {
				ctx, cancel = context.WithCancel(t.Context())
				time.AfterFunc(300*time.Millisecond, cancel)
				want = context.Canceled
			}
			defer cancel()
			start := time.Now()
			err := s.Send(ctx, []string{"jane@example.com"}, finished())
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Send took %v after ctx was done", took)
			}
			if !errors.Is(err, want) {
				t.Errorf("Send: err = %v, want one wrapping %v", err, want)
			}
			if IsPermanent(err) {
				t.Errorf("IsPermanent(%v) = true", err)
			}
		})
	}
}

func TestSendCanceledBeforehand(t *testing.T) {
	t.Parallel()
	fake := startFake(t, &fakeSMTP{})
	s := newTestSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", fake.port()), nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Send(ctx, []string{"jane@example.com"}, finished()); !errors.Is(err, context.Canceled) || IsPermanent(err) {
		t.Errorf("Send: err = %v", err)
	}
}

func TestSendTLSUntrusted(t *testing.T) {
	t.Parallel()
	serverTLS, _ := testTLS(t)
	fake := startFake(t, &fakeSMTP{implicit: true, tls: serverTLS})
	s := newTestSender(t, fmt.Sprintf("smtps://bob:pw@127.0.0.1:%d", fake.port()), nil)
	err := s.Send(t.Context(), []string{"jane@example.com"}, finished())
	var certErr *tls.CertificateVerificationError
	if !errors.As(err, &certErr) || IsPermanent(err) {
		t.Errorf("Send: err = %v, want a retryable certificate error", err)
	}
}

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	if IsPermanent(nil) || IsPermanent(errors.New("x")) || IsPermanent(context.Canceled) {
		t.Error("IsPermanent is true for an error not from Send")
	}
	wrapped := fmt.Errorf("finalize: %w", &sendError{text: "x", permanent: true})
	if !IsPermanent(wrapped) {
		t.Error("IsPermanent does not see through wrapping")
	}
}
