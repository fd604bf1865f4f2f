package config

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/task"
)

// value is how a variable is parsed into its field of Config and shown by
// Print. The constructors below make one for each kind of setting; their
// errors name the variable, and quote its value only when it is no secret.
type value struct {
	parse func(c *Config, name, v string) error
	show  func(c *Config) string // nil: not printed
}

// field is the value of the field f returns, read by parse and shown by show.
func field[T any](f func(*Config) *T, parse func(name, v string) (T, error), show func(T) string) value {
	return value{
		parse: func(c *Config, name, v string) error {
			x, err := parse(name, v)
			if err != nil {
				return err
			}
			*f(c) = x
			return nil
		},
		show: func(c *Config) string { return show(*f(c)) },
	}
}

func asIs(s string) string { return s }

// text is any string.
func text(f func(*Config) *string) value {
	return field(f, func(_, v string) (string, error) { return v, nil }, asIs)
}

// secret is a string shown only as set or unset; check, when not nil, says
// what is wrong with it without repeating it.
func secret(f func(*Config) *string, check func(name, v string) error) value {
	return field(f, func(name, v string) (string, error) {
		if check != nil && v != "" {
			if err := check(name, v); err != nil {
				return "", err
			}
		}
		return v, nil
	}, masked)
}

// link is a URL, shown with its password masked; check says what is wrong.
func link(f func(*Config) *string, check func(name, v string) error) value {
	return field(f, func(name, v string) (string, error) { return v, check(name, v) }, maskURL)
}

func positive(f func(*Config) *int) value {
	return field(f, func(name, v string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s %q: want a whole number above 0", name, v)
		}
		return n, nil
	}, strconv.Itoa)
}

func atLeastZero(f func(*Config) *int) value {
	return field(f, func(name, v string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s %q: want a whole number, 0 or more", name, v)
		}
		return n, nil
	}, strconv.Itoa)
}

func rate(f func(*Config) *float64) value {
	return field(f, func(name, v string) (float64, error) {
		r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			return 0, fmt.Errorf("%s %q: want requests a second, such as 20 or 0.5 (0: no limit)", name, v)
		}
		return r, nil
	}, func(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) })
}

func duration(f func(*Config) *time.Duration) value {
	return field(f, func(name, v string) (time.Duration, error) {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%s %q: want a duration above 0 such as 30s or 2m", name, v)
		}
		return d, nil
	}, time.Duration.String)
}

// boolean is true or false; hint says when to use which.
func boolean(f func(*Config) *bool, hint string) value {
	return field(f, func(name, v string) (bool, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, fmt.Errorf("%s=%q is not a bool: %s", name, v, hint)
		}
		return b, nil
	}, strconv.FormatBool)
}

// oneOf is one of the words allowed.
func oneOf(f func(*Config) *string, allowed ...string) value {
	return field(f, func(name, v string) (string, error) {
		for _, a := range allowed {
			if v == a {
				return v, nil
			}
		}
		return "", fmt.Errorf("%s %q: use %s or %s", name, v, strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1])
	}, asIs)
}

// credential reads "user:password"; the error never repeats the value.
func credential(f func(*Config) *operator.Credential) value {
	return field(f, func(name, v string) (operator.Credential, error) {
		if v == "" {
			return operator.Credential{}, nil
		}
		user, password, ok := strings.Cut(v, ":")
		if !ok || user == "" || len(password) < 12 {
			return operator.Credential{}, fmt.Errorf("%s: want user:password with a password of 12 characters or more", name)
		}
		return operator.Credential{User: user, Password: password}, nil
	}, func(c operator.Credential) string {
		if !c.Set() {
			return "(unset)"
		}
		return c.User + ":xxxxx"
	})
}

func namespace(f func(*Config) *task.Namespace) value {
	return field(f, func(name, v string) (task.Namespace, error) {
		for _, r := range v {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return "", fmt.Errorf("%s %q: use lower-case letters, digits and -", name, v)
			}
		}
		return task.Namespace(v), nil
	}, func(n task.Namespace) string { return string(n) })
}

// smtpURL is mail.Config.URL, shown with its password masked.
func smtpURL(f func(*Config) *mail.Config) value {
	return value{
		parse: func(c *Config, name, v string) error {
			v = strings.TrimSpace(v)
			if err := mail.CheckURL(v); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			f(c).URL = v
			return nil
		},
		show: func(c *Config) string { return f(c).Redacted() },
	}
}

// mailFrom is mail.Config.From.
func mailFrom(f func(*Config) *mail.Config) value {
	return value{
		parse: func(c *Config, name, v string) error {
			v = strings.TrimSpace(v)
			if err := mail.CheckFrom(v); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			f(c).From = v
			return nil
		},
		show: func(c *Config) string { return f(c).From },
	}
}

func checkDatabaseURL(name, v string) error {
	if u, err := url.Parse(v); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s: want postgres://user:password@host:port/database", name)
	}
	return nil
}

func checkRedisURL(_, v string) error {
	_, err := redisOpt(v)
	return err
}

func checkPrometheusURL(name, v string) error {
	if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return fmt.Errorf("%s: want http(s)://host:port of a Prometheus server", name)
	}
	return nil
}

func minLength(n int, example string) func(name, v string) error {
	return func(name, v string) error {
		if len(v) < n {
			return fmt.Errorf("%s: want %d characters or more (e.g. %s)", name, n, example)
		}
		return nil
	}
}

// masked says whether a secret is set, never what it is.
func masked(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	return "xxxxx"
}

// maskURL hides a URL's password.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// publicURL is scheme://host[:port], kept without a trailing slash.
func publicURL(name, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return "", fmt.Errorf("%s %q: want https://host[:port] (http:// only for a local test)", name, v)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "", fmt.Errorf("%s %q: want scheme://host[:port], no path: the producer serves its routes at the root", name, v)
	}
	return u.Scheme + "://" + u.Host, nil
}

// prefixes is a comma-separated list of CIDRs or addresses.
func prefixes(name, v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if ip, ierr := netip.ParseAddr(s); ierr == nil {
			p, err = ip.Prefix(ip.BitLen())
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a CIDR such as 10.0.0.0/8 or an address such as 192.0.2.7", name, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// overlaps reports whether one of two key prefixes starts the other.
func overlaps(a, b string) bool { return strings.HasPrefix(a, b) || strings.HasPrefix(b, a) }

// checkEventsPrefix checks S3_EVENTS_PREFIX: the tenant is the key's next
// segment, so the prefix must end at a segment's end, or "uploads/x" would
// let tenant acme name "uploads/xacme/…"; and it must stay clear of where
// uploads are stored, or the events would import every upload again.
func checkEventsPrefix(name, p string) (string, error) {
	if !strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("%s %q: end with / (such as incoming/), so that the tenant is a segment of its own", name, p)
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%s %q: want segments separated by single /, no empty, . or .. segment (such as incoming/)", name, p)
		}
	}
	if overlaps(p, intake.UploadsPrefix) {
		return "", fmt.Errorf("%s %q: overlaps %s, where the producer stores uploads (the events would import them again): choose another, such as incoming/", name, p, intake.UploadsPrefix)
	}
	return p, nil
}
