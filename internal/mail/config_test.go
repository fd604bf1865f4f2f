package mail

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	gomail "github.com/wneessen/go-mail"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	const from = "userimport@localhost"
	tests := []struct {
		name    string
		url     string
		from    string
		want    server
		wantErr string // a prefix of the error; "" for none
	}{
		{name: "smtp", url: "smtp://127.0.0.1:1025",
			want: server{host: "127.0.0.1", port: 1025, tlsPolicy: gomail.TLSOpportunistic}},
		{name: "smtp default port", url: "smtp://mail.example.com",
			want: server{host: "mail.example.com", port: 25, tlsPolicy: gomail.TLSOpportunistic}},
		{name: "smtp with auth", url: "smtp://user%40example.com:p%40ss%3Aw%2Fd@mail.example.com:587",
			want: server{host: "mail.example.com", port: 587, user: "user@example.com", pass: "p@ss:w/d", tlsPolicy: gomail.TLSOpportunistic}},
		{name: "smtp trailing slash", url: "smtp://mail.example.com:587/",
			want: server{host: "mail.example.com", port: 587, tlsPolicy: gomail.TLSOpportunistic}},
		{name: "tls none", url: "smtp://127.0.0.1:1025?tls=none",
			want: server{host: "127.0.0.1", port: 1025, tlsPolicy: gomail.NoTLS}},
		{name: "tls none with auth on the loopback", url: "smtp://u:p@localhost:1025?tls=none",
			want: server{host: "localhost", port: 1025, user: "u", pass: "p", tlsPolicy: gomail.NoTLS}},
		{name: "tls required", url: "smtp://u:p@mail.example.com:587?tls=required",
			want: server{host: "mail.example.com", port: 587, user: "u", pass: "p", tlsPolicy: gomail.TLSMandatory}},
		{name: "smtps", url: "smtps://smtp.example.com",
			want: server{host: "smtp.example.com", port: 465, tlsPolicy: gomail.NoTLS, implicitTLS: true}},
		{name: "smtps with auth", url: "smtps://apikey:s3cr3t@smtp.example.com:2465",
			want: server{host: "smtp.example.com", port: 2465, user: "apikey", pass: "s3cr3t", tlsPolicy: gomail.NoTLS, implicitTLS: true}},
		{name: "ipv6", url: "smtp://[::1]:1025",
			want: server{host: "::1", port: 1025, tlsPolicy: gomail.TLSOpportunistic}},

		{name: "unset", url: "", wantErr: "SMTP_URL: not set"},
		{name: "bad scheme", url: "http://mail.example.com", wantErr: `SMTP_URL: scheme "http": want smtp or smtps`},
		{name: "no scheme", url: "mail.example.com:25", wantErr: `SMTP_URL: scheme "mail.example.com": want smtp or smtps`},
		{name: "no scheme, no port", url: "mail.example.com", wantErr: "SMTP_URL: no scheme"},
		{name: "missing host", url: "smtp://:25", wantErr: "SMTP_URL: no host"},
		{name: "missing host with auth", url: "smtp://u:p@", wantErr: "SMTP_URL: no host"},
		{name: "opaque", url: "smtp:mail.example.com", wantErr: "SMTP_URL: no host"},
		{name: "port out of range", url: "smtp://mail.example.com:70000", wantErr: "SMTP_URL: port: want 1 to 65535"},
		{name: "path", url: "smtp://mail.example.com/x", wantErr: "SMTP_URL: unexpected path"},
		{name: "user without password", url: "smtp://u@mail.example.com", wantErr: "SMTP_URL: user and password must both be given"},
		{name: "unknown parameter", url: "smtp://mail.example.com?starttls=1", wantErr: "SMTP_URL: unknown parameter"},
		{name: "bad tls value", url: "smtp://mail.example.com?tls=maybe", wantErr: "SMTP_URL: tls: want none or required"},
		{name: "tls on smtps", url: "smtps://mail.example.com?tls=none", wantErr: "SMTP_URL: tls parameter: smtps always uses TLS"},
		{name: "password in clear", url: "smtp://u:p@mail.example.com?tls=none", wantErr: "SMTP_URL: tls=none with a user"},
		{name: "unparsable", url: "smtp://u:p w@mail example.com", wantErr: "SMTP_URL: invalid URL"},

		{name: "from unset", url: "smtp://127.0.0.1:1025", from: "-", wantErr: "MAIL_FROM: not set"},
		{name: "from invalid", url: "smtp://127.0.0.1:1025", from: "not an address", wantErr: "MAIL_FROM: mail: "},
		{name: "from with name", url: "smtp://127.0.0.1:1025", from: "User import <userimport@example.com>",
			want: server{host: "127.0.0.1", port: 1025, tlsPolicy: gomail.TLSOpportunistic}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := tt.from
			switch f {
			case "":
				f = from
			case "-":
				f = ""
			}
			c, err := ConfigFromEnv(env(map[string]string{"SMTP_URL": tt.url, "MAIL_FROM": f}))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ConfigFromEnv: err = %v, want one starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromEnv: %v", err)
			}
			if c.URL != tt.url || c.From != f {
				t.Errorf("config = %+v", c)
			}
			s, err := NewSender(c)
			if err != nil {
				t.Fatalf("NewSender: %v", err)
			}
			if diff := cmp.Diff(tt.want, s.srv, cmp.AllowUnexported(server{})); diff != "" {
				t.Errorf("server (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewSenderChecks(t *testing.T) {
	t.Parallel()
	if _, err := NewSender(Config{URL: "smtp://h:1", From: "nobody"}); err == nil || !strings.HasPrefix(err.Error(), "mail: From: ") {
		t.Errorf("bad From: err = %v", err)
	}
	if _, err := NewSender(Config{URL: "ftp://h", From: "a@b.c"}); err == nil || !strings.HasPrefix(err.Error(), "mail: URL: ") {
		t.Errorf("bad URL: err = %v", err)
	}
}

func TestConfigRedacted(t *testing.T) {
	t.Parallel()
	c := Config{URL: "smtps://apikey:hunter2-secret@smtp.example.com:465", From: "userimport@example.com"}
	const want = "smtps://apikey:xxxxx@smtp.example.com:465"
	if got := c.Redacted(); got != want {
		t.Errorf("Redacted() = %q, want %q", got, want)
	}
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v|%+v|%s|%#v", c, c, c, c), fmt.Sprint(&c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("the password shows in %q", s)
		}
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
	if got := (Config{URL: "smtp://mail.example.com:25", From: "a@b.c"}).String(); got != "smtp://mail.example.com:25 from a@b.c" {
		t.Errorf("String() = %q", got)
	}
}

// Errors about a URL never quote the password, however it is mangled.
func TestConfigErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	const pw = "Sup3rS3cret"
	for _, url := range []string{
		"smtp://u:" + pw + "%zz@mail.example.com",    // bad escape
		"smtp://u:" + pw + " x@mail.example.com",     // space
		"smtp://u:12" + pw + "#@mail.example.com",    // unescaped #: host u, port 12..., fragment
		"smtp://u:123?" + pw + "@mail.example.com",   // unescaped ?: the rest is the query
		"smtp://u:99999#" + pw + "@mail.example.com", // port out of range, password in the fragment
		"smtp://u:123?tls=" + pw + "@h",
		"smtp://u:123/" + pw + "@h", // unescaped /: the rest is the path
		"smtp://u:" + pw + "@mail.example.com?tls=none",
		"ftp://u:" + pw + "@mail.example.com",
	} {
		_, err := ConfigFromEnv(env(map[string]string{"SMTP_URL": url, "MAIL_FROM": "a@b.c"}))
		if err == nil {
			t.Errorf("%s: no error", url)
			continue
		}
		if strings.Contains(err.Error(), pw[:4]) {
			t.Errorf("%s: error shows the password: %v", url, err)
		}
		c := Config{URL: url}
		if s := c.String() + c.GoString(); strings.Contains(s, pw[:4]) {
			t.Errorf("%s: String shows the password: %s", url, s)
		}
	}
}
