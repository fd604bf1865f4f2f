package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"go.opentelemetry.io/otel/trace"

	"github.com/userimport/userimport/internal/tracing"
)

// commandTimeout bounds the connection and every SMTP command when ctx has
// no earlier deadline.
const commandTimeout = 30 * time.Second

// Sender sends result e-mails through one SMTP server. It is safe for
// concurrent use: every Send opens its own connection.
type Sender struct {
	srv    server
	from   string
	tls    *tls.Config // for implicit TLS and STARTTLS; tests swap its roots
	tracer trace.Tracer
}

// NewSender checks c and returns a Sender. It does not connect.
func NewSender(c Config, opts ...Option) (*Sender, error) {
	srv, err := parseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("mail: URL: %w", err)
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("mail: From: %w", err)
	}
	s := &Sender{
		srv:    srv,
		from:   c.From,
		tls:    &tls.Config{ServerName: srv.host, MinVersion: tls.VersionTLS12},
		tracer: tracing.Tracer(nil, ""),
	}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// Send e-mails r (see Compose) to the recipients, with the error report
// attached or linked. Each recipient gets a message of its own, whose To:
// names only them: recipients never learn each other's addresses, and one
// refused address does not keep the message from the others. The messages go
// through one SMTP session. ctx bounds the whole exchange: when it is done,
// the connection is closed and Send returns an error that wraps ctx.Err().
//
// The error's text holds neither the password nor the recipients' addresses.
// IsPermanent(err) reports whether sending the same messages again is
// pointless: every message that failed was refused for good (or an address
// is malformed). Every other error (no connection, a 4xx reply, a failed
// STARTTLS or login) may pass when retried later; a retry sends to every
// recipient again, so delivery is at least once, as it already was for a
// worker that stops between sending and recording it.
func (s *Sender) Send(ctx context.Context, to []string, r Result) error {
	subject, text, html := Compose(r)
	return s.sendEach(ctx, to, func(m *gomail.Msg) {
		m.Subject(subject)
		m.SetBodyString(gomail.TypeTextPlain, text)
		m.AddAlternativeString(gomail.TypeTextHTML, html)
		if len(r.Report) > 0 {
			m.AttachReadSeeker(reportName(r), bytes.NewReader(r.Report),
				gomail.WithFileContentType("text/csv; charset=utf-8"))
		}
	})
}

// sendEach sends one message per recipient, filled in by fill, over one
// connection.
func (s *Sender) sendEach(ctx context.Context, to []string, fill func(*gomail.Msg)) error {
	if len(to) == 0 {
		return &sendError{text: "mail: no recipients", permanent: true}
	}
	addrs := make([]string, len(to))
	for i, a := range to {
		p, err := netmail.ParseAddress(a)
		if err != nil {
			// The address itself stays out of the text (STYLE.md §5).
			return &sendError{text: fmt.Sprintf("mail: recipient %d of %d: %v", i+1, len(to), err),
				permanent: true, errs: []error{err}}
		}
		addrs[i] = p.Address
	}
	msgs := make([]*gomail.Msg, len(to))
	for i, a := range to {
		m := gomail.NewMsg()
		err := m.From(s.from)
		if err == nil {
			err = m.To(a)
		}
		if err != nil {
			return &sendError{text: fmt.Sprintf("mail: recipient %d of %d: %s", i+1, len(to), s.scrub(err.Error(), addrs)),
				permanent: true, errs: []error{err}}
		}
		m.SetDate()
		m.SetMessageID()
		m.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies, please
		fill(m)
		msgs[i] = m
	}
	return s.deliverTraced(ctx, addrs, msgs)
}

// deliver connects, sends the messages and says goodbye.
func (s *Sender) deliver(ctx context.Context, rcpts []string, msgs []*gomail.Msg) error {
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, rcpts, err, nil)
	}
	// The TCP connection, closed when ctx is done (go-mail honours ctx only
	// while dialling) and in any case on return.
	var (
		conn net.Conn
		stop func() bool
	)
	defer func() {
		if conn != nil {
			stop()
			conn.Close()
		}
	}()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn, stop = c, context.AfterFunc(ctx, func() { c.Close() })
		if !s.srv.implicitTLS {
			return c, nil
		}
		tc := tls.Client(c, s.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			return nil, err
		}
		return tc, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.srv.port),
		gomail.WithTimeout(commandTimeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSPolicy(s.srv.tlsPolicy),
		gomail.WithTLSConfig(s.tls),
	}
	if s.srv.user != "" {
		// PLAIN refuses to send the password unencrypted except to the loopback.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(s.srv.user), gomail.WithPassword(s.srv.pass))
	}
	client, err := gomail.NewClient(s.srv.host, opts...)
	if err != nil {
		return s.fail(ctx, rcpts, err, nil)
	}
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.fail(ctx, rcpts, err, nil)
	}
	// go-mail sends every message, whatever happens to the one before, and
	// keeps each one's error with it.
	if err := client.SendWithSMTPClient(sc, msgs...); err != nil {
		return s.fail(ctx, rcpts, err, msgs)
	}
	// The server has taken the message: a failed QUIT changes nothing, and
	// reporting it would have the caller send the message twice.
	_ = client.CloseWithSMTPClient(sc)
	return nil
}

// fail turns err into what Send returns: classified, and with its text
// scrubbed of the password and the recipients' addresses. msgs are the
// messages that were being sent, each with its own error, if any.
func (s *Sender) fail(ctx context.Context, rcpts []string, err error, msgs []*gomail.Msg) error {
	e := &sendError{errs: []error{err}}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The closed connection made err; ctx is the cause.
		e.errs = []error{ctxErr, err}
		e.text = fmt.Sprintf("smtp %s: %v (%s)", s.srv.addr(), ctxErr, s.scrub(err.Error(), rcpts))
		return e
	}
	failed, refused := 0, 0
	for _, m := range msgs {
		if m.HasSendError() {
			failed++
			if refusedForGood(m.SendError()) {
				refused++
			}
		}
	}
	if failed == 0 {
		e.permanent = refusedForGood(err)
	} else {
		// Sending again would repeat the delivered messages and fail the
		// refused ones again: pointless unless one failed for now.
		e.permanent = refused == failed
	}
	text := s.scrub(err.Error(), rcpts)
	if failed > 0 && len(msgs) > 1 {
		text = fmt.Sprintf("%d of %d messages not sent: %s", failed, len(msgs), text)
	}
	e.text = fmt.Sprintf("smtp %s: %s", s.srv.addr(), strings.ReplaceAll(text, "\n", "; "))
	return e
}

// refusedForGood reports whether err is a 5xx reply to RCPT TO or DATA. A 5xx
// reply to MAIL FROM, like a refused login, is about our configuration, not
// this message: retrying can pass once it is fixed.
func refusedForGood(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return se.ErrorCode() >= 500 && se.ErrorCode() <= 599
	default:
		return false
	}
}

// scrub replaces the password and the recipients' addresses in an error's
// text (servers quote addresses in their replies; go-mail lists them).
func (s *Sender) scrub(text string, rcpts []string) string {
	if s.srv.pass != "" {
		text = strings.ReplaceAll(text, s.srv.pass, "xxxxx")
	}
	for _, a := range rcpts {
		if a == "" {
			continue
		}
		text = regexp.MustCompile(`(?i)`+regexp.QuoteMeta(a)).ReplaceAllLiteralString(text, "<recipient>")
	}
	return text
}

// sendError is an error of Send. Its text is safe to log; the errors it wraps
// may not be.
type sendError struct {
	text      string
	permanent bool
	errs      []error
}

func (e *sendError) Error() string   { return e.text }
func (e *sendError) Unwrap() []error { return e.errs }

// IsPermanent reports whether err, from Send, means that sending the same
// messages again cannot succeed: the server refused every message that
// failed for good (a 5xx reply to RCPT TO or DATA), or a recipient's address
// is malformed. Connection failures, timeouts, 4xx replies, TLS and login
// failures and a done ctx are not permanent.
func IsPermanent(err error) bool {
	var se *sendError
	return errors.As(err, &se) && se.permanent
}
