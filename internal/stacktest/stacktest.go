// Package stacktest helps tests that use the local stack's services (S3 on
// versitygw, mailpit): their settings when make test has not exported them,
// an S3 store, and the e-mails mailpit caught.
package stacktest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/apidoc/apidoctest"
	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/s3store"
)

// Local are the local stack's settings (deploy/local/stack.sh env): its S3
// server, credentials and mailpit, and the defaults of internal/config for
// what the stack leaves at its default.
var Local = map[string]string{ //nolint:gosec // the local stack's throwaway credentials, as stack.sh sets them
	"S3_ENDPOINT": "http://127.0.0.1:9002", "S3_BUCKET": config.DefaultBucket, "S3_FORCE_PATH_STYLE": "true",
	"AWS_ACCESS_KEY_ID": "userimport", "AWS_SECRET_ACCESS_KEY": "userimport-secret", "AWS_REGION": "us-east-1",
	"REDIS_URL": config.DefaultRedisURL, "SMTP_URL": config.DefaultSMTPURL, "MAIL_FROM": config.DefaultMailFrom,
	"MAILPIT_URL": "http://127.0.0.1:8025",
}

// SetDefaults sets every local setting the environment lacks. Call it from
// TestMain, before the tests run (t.Setenv rules out parallel tests).
func SetDefaults() {
	for k, v := range Local {
		if os.Getenv(k) == "" {
			_ = os.Setenv(k, v)
		}
	}
}

// Getenv is os.Getenv with the local settings as defaults.
func Getenv(k string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return Local[k]
}

// S3 returns a store on the configured bucket, made with opts.
func S3(t *testing.T, opts ...s3store.Option) *s3store.Store {
	t.Helper()
	cfg, err := config.Load(config.Importctl, Getenv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := s3store.New(t.Context(), cfg.S3, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Message is an e-mail as mailpit's search lists it.
type Message struct {
	ID          string        `json:"ID"`
	Subject     string        `json:"Subject"`
	Attachments int           `json:"Attachments"`
	To          []MailAddress `json:"To"`
	Cc          []MailAddress `json:"Cc"`
	Bcc         []MailAddress `json:"Bcc"`
}

// MailAddress is a recipient as mailpit shows it.
type MailAddress struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Attachments returns the files attached to mailpit's message id, by name.
func Attachments(t *testing.T, id string) map[string][]byte {
	t.Helper()
	var msg struct {
		Attachments []struct {
			PartID   string `json:"PartID"`
			FileName string `json:"FileName"`
		} `json:"Attachments"`
	}
	if err := json.Unmarshal(mailpitGet(t, "/api/v1/message/"+url.PathEscape(id)), &msg); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, a := range msg.Attachments {
		out[a.FileName] = mailpitGet(t, "/api/v1/message/"+url.PathEscape(id)+"/part/"+url.PathEscape(a.PartID))
	}
	return out
}

// Text returns the plain-text body of mailpit's message id.
func Text(t *testing.T, id string) string {
	t.Helper()
	var msg struct {
		Text string `json:"Text"`
	}
	if err := json.Unmarshal(mailpitGet(t, "/api/v1/message/"+url.PathEscape(id)), &msg); err != nil {
		t.Fatal(err)
	}
	return msg.Text
}

func mailpitGet(t *testing.T, path string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, Getenv("MAILPIT_URL")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit GET %s: %d %s (%v)", path, resp.StatusCode, b, err)
	}
	return b
}

// Mail returns the messages mailpit holds for address, waiting up to 10 s for
// the first.
func Mail(t *testing.T, address string) []Message {
	t.Helper()
	return mail(t, address, 10*time.Second)
}

// MailNow returns the messages mailpit holds for address now, without
// waiting: to check that none came, once the others have.
func MailNow(t *testing.T, address string) []Message {
	t.Helper()
	return mail(t, address, 0)
}

func mail(t *testing.T, address string, wait time.Duration) []Message {
	t.Helper()
	q := url.Values{"query": {fmt.Sprintf("to:%q", address)}}
	deadline := time.Now().Add(wait)
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, Getenv("MAILPIT_URL")+"/api/v1/search?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Messages []Message `json:"messages"`
		}
		err = json.NewDecoder(resp.Body).Decode(&res)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) > 0 || time.Now().After(deadline) {
			return res.Messages
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Address returns an e-mail address no other test uses.
func Address(prefix string) string { return prefix + "-" + RandomHex(6) + "@example.com" }

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Do sends a request with the bearer token (none when empty) and returns the
// status and body. A response to a /v1/ request is checked against the
// producer's OpenAPI document (apidoctest): one that does not match fails t.
func Do(t *testing.T, method, url, token, ctype string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := apidoctest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// Redis returns the connection options of REDIS_URL on database db, which
// the calling package keeps to itself: tests never see the service's queues,
// nor another package's running at the same time.
func Redis(t *testing.T, db int) asynq.RedisClientOpt {
	t.Helper()
	opt, err := asynq.ParseRedisURI(Getenv("REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	o, ok := opt.(asynq.RedisClientOpt)
	if !ok {
		t.Fatal("REDIS_URL: want a plain redis:// URL in tests")
	}
	o.DB = db
	return o
}
