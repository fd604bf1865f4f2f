package mail

import (
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Config says how result e-mails are sent.
type Config struct {
	// URL is the SMTP server:
	//
	//	smtp://[user:pass@]host[:port]   plain SMTP, port 25 by default; STARTTLS when the
	//	                                 server offers it ("?tls=required": fail when it does
	//	                                 not, "?tls=none": never)
	//	smtps://[user:pass@]host[:port]  implicit TLS, port 465 by default
	//
	// A user and password are sent with AUTH PLAIN, never over an unencrypted
	// connection to another host than the loopback. Characters of the password
	// that are special in URLs (@ : / ? # %) must be %-escaped.
	URL string
	// From is the sender: "userimport@example.com" or
	// "User import <userimport@example.com>".
	From string
}

// ConfigFromEnv reads SMTP_URL and MAIL_FROM and checks them.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{URL: strings.TrimSpace(getenv("SMTP_URL")), From: strings.TrimSpace(getenv("MAIL_FROM"))}
	if c.URL == "" {
		return Config{}, errors.New("SMTP_URL: not set (e.g. smtp://127.0.0.1:1025 or smtps://user:pass@smtp.example.com)")
	}
	if err := CheckURL(c.URL); err != nil {
		return Config{}, fmt.Errorf("SMTP_URL: %w", err)
	}
	if c.From == "" {
		return Config{}, errors.New("MAIL_FROM: not set (e.g. userimport@example.com)")
	}
	if err := CheckFrom(c.From); err != nil {
		return Config{}, fmt.Errorf("MAIL_FROM: %w", err)
	}
	return c, nil
}

// CheckURL says what is wrong with an SMTP URL (see Config.URL); its error
// quotes nothing of the URL but the scheme.
func CheckURL(raw string) error {
	_, err := parseURL(raw)
	return err
}

// CheckFrom says what is wrong with a sender address (see Config.From).
func CheckFrom(from string) error {
	_, err := netmail.ParseAddress(from)
	return err
}

// String describes c for logs: the URL with its password masked, and the
// sender.
func (c Config) String() string {
	return fmt.Sprintf("%s from %s", c.Redacted(), c.From)
}

// GoString masks the password in %#v too.
func (c Config) GoString() string {
	return fmt.Sprintf("mail.Config{URL: %q, From: %q}", c.Redacted(), c.From)
}

// Redacted returns the URL with its password replaced by "xxxxx", or
// "<invalid URL>" when it is not a valid SMTP URL (an invalid one might show
// the password where the URL parser did not see one).
func (c Config) Redacted() string {
	if _, err := parseURL(c.URL); err != nil {
		return "<invalid URL>"
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return "<invalid URL>"
	}
	return u.Redacted()
}

// server is a parsed Config.URL.
type server struct {
	host        string
	port        int
	user, pass  string
	implicitTLS bool
	tlsPolicy   gomail.TLSPolicy
}

func (s server) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// parseURL parses an SMTP URL. Its errors quote nothing from the URL but the
// scheme: with an unescaped ? or # in a password, any other part may hold
// some of it.
func parseURL(raw string) (server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's errors quote the URL or parts of it: a password with an
		// unescaped special character would show.
		return server{}, errors.New("invalid URL (in the user and password, escape @ : / ? # % as %40 %3A %2F %3F %23 %25)")
	}
	var s server
	switch u.Scheme {
	case "smtp":
		s.port, s.tlsPolicy = 25, gomail.TLSOpportunistic
	case "smtps":
		// We dial TLS ourselves; go-mail must not try STARTTLS on top.
		s.port, s.tlsPolicy, s.implicitTLS = 465, gomail.NoTLS, true
	case "":
		return server{}, errors.New("no scheme: want smtp://host:port or smtps://host:port")
	default:
		return server{}, fmt.Errorf("scheme %q: want smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" {
		return server{}, errors.New("no host: want smtp://host:port or smtps://host:port")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return server{}, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return server{}, errors.New("port: want 1 to 65535")
		}
		s.port = n
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" {
		return server{}, errors.New("unexpected path or fragment")
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		if s.user == "" || s.pass == "" {
			return server{}, errors.New("user and password must both be given")
		}
	}
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return server{}, errors.New("unknown parameter: only tls=none or tls=required")
		}
	}
	if q.Has("tls") {
		if s.implicitTLS {
			return server{}, errors.New("tls parameter: smtps always uses TLS; use smtp:// for STARTTLS or none")
		}
		switch q.Get("tls") {
		case "none":
			s.tlsPolicy = gomail.NoTLS
		case "required":
			s.tlsPolicy = gomail.TLSMandatory
		default:
			return server{}, errors.New("tls: want none or required")
		}
	}
	if s.tlsPolicy == gomail.NoTLS && !s.implicitTLS && s.user != "" && !isLoopback(s.host) {
		return server{}, errors.New("tls=none with a user: the password would cross the network unencrypted")
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
