package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// The integration tests send through the local stack's mailpit
// (deploy/local/stack.sh up; make test exports SMTP_URL and MAILPIT_URL) and
// read the messages back through its API. Other tests share that mailpit:
// each test sends to its own address and deletes only its own messages.

func stackEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// mailpit is a client of mailpit's HTTP API, as far as the tests need it.
type mailpit struct {
	t    *testing.T
	base string
}

func newMailpit(t *testing.T) mailpit {
	t.Helper()
	m := mailpit{t: t, base: strings.TrimSuffix(stackEnv("MAILPIT_URL", "http://127.0.0.1:8025"), "/")}
	res, err := http.Get(m.base + "/readyz")
	if err != nil {
		t.Fatalf("mailpit at %s: %v (start the local stack: deploy/local/stack.sh up)", m.base, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("mailpit at %s: /readyz answered %s", m.base, res.Status)
	}
	return m
}

// mailpitSummary is a message in a search result.
type mailpitSummary struct {
	ID          string
	Subject     string
	Attachments int
}

// mailpitMessage is GET /api/v1/message/{ID}.
type mailpitMessage struct {
	ID      string
	Subject string
	From    mailpitAddress
	To      []mailpitAddress
	Text    string
	HTML    string
	// Attachments lists parts with a file name; PartID addresses them.
	Attachments []struct {
		PartID      string
		FileName    string
		ContentType string
		Size        int
	}
}

type mailpitAddress struct {
	Name    string
	Address string
}

func (m mailpit) get(path string, v any) []byte {
	m.t.Helper()
	res, err := http.Get(m.base + path)
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		m.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		m.t.Fatalf("GET %s: %s: %s", path, res.Status, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			m.t.Fatalf("GET %s: %v", path, err)
		}
	}
	return body
}

// waitFor polls the search API until a message to addr arrives (up to 5 s),
// then a little longer to catch a duplicate, and returns what it found.
func (m mailpit) waitFor(addr string) []mailpitSummary {
	m.t.Helper()
	path := "/api/v1/search?query=" + url.QueryEscape(fmt.Sprintf("to:%q", addr))
	var found []mailpitSummary
	deadline := time.Now().Add(5 * time.Second)
	for {
		var res struct {
			MessagesCount int `json:"messages_count"`
			Messages      []mailpitSummary
		}
		m.get(path, &res)
		if len(res.Messages) > 0 && found != nil || time.Now().After(deadline) {
			return res.Messages
		}
		if len(res.Messages) > 0 {
			found = res.Messages
			time.Sleep(200 * time.Millisecond) // one more look: exactly one?
			continue
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deleteLater deletes the messages after the test. An empty ID list would
// make mailpit delete every message, so it is never sent.
func (m mailpit) deleteLater(ids []string) {
	m.t.Cleanup(func() {
		if len(ids) == 0 {
			return
		}
		body, _ := json.Marshal(map[string][]string{"IDs": ids})
		req, err := http.NewRequest(http.MethodDelete, m.base+"/api/v1/messages", bytes.NewReader(body))
		if err != nil {
			m.t.Error(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			m.t.Error(err)
			return
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			m.t.Errorf("DELETE /api/v1/messages: %s", res.Status)
		}
	})
}

func uniqueAddress(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t-" + hex.EncodeToString(b) + "@example.com"
}

func TestMailpit(t *testing.T) {
	t.Parallel()
	mp := newMailpit(t)
	smtpURL := stackEnv("SMTP_URL", "smtp://127.0.0.1:1025")
	u, err := url.Parse(smtpURL)
	if err != nil {
		t.Fatalf("SMTP_URL: %v", err)
	}
	withAuth := *u
	withAuth.User = url.UserPassword("tenant-mailer", "p@ss word")

	// The stack's mailpit accepts any login (--smtp-auth-accept-any) but needs
	// none, and v1.27.11 records the user of AUTH LOGIN only, not of AUTH
	// PLAIN, which we use: this proves that a real server takes our login, and
	// TestSendDelivers that we send it.
	tests := []struct {
		name string
		url  string
	}{
		{"stack", smtpURL},
		{"auth", withAuth.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mp := mailpit{t: t, base: mp.base}
			s, err := NewSender(Config{URL: tt.url, From: stackEnv("MAIL_FROM", "userimport@localhost")})
			if err != nil {
				t.Fatal(err)
			}
			to := uniqueAddress(t)
			report := "User name,Login ID,Line,Errors\n,jdoe,313,User name: required: the user's full name\n"
			r := finished()
			r.File = "users <2024>.csv"
			r.Report, r.ReportName = []byte(report), "users-errors.csv"
			if err := s.Send(t.Context(), []string{"Uploader <" + to + ">"}, r); err != nil {
				t.Fatalf("Send: %v", err)
			}

			found := mp.waitFor(to)
			ids := make([]string, 0, len(found))
			for _, f := range found {
				ids = append(ids, f.ID)
			}
			mp.deleteLater(ids)
			if len(found) != 1 {
				t.Fatalf("%d messages to %s, want 1", len(found), to)
			}
			const subject = "Import of users <2024>.csv: 9,900 created, 0 updated, 0 unchanged, 100 rejected"
			if found[0].Subject != subject || found[0].Attachments != 1 {
				t.Errorf("summary: subject %q, %d attachments; want %q, 1", found[0].Subject, found[0].Attachments, subject)
			}

			var msg mailpitMessage
			mp.get("/api/v1/message/"+found[0].ID, &msg)
			if msg.Subject != subject {
				t.Errorf("subject %q, want %q", msg.Subject, subject)
			}
			if len(msg.To) != 1 || msg.To[0].Address != to || msg.To[0].Name != "Uploader" {
				t.Errorf("to %+v, want Uploader <%s>", msg.To, to)
			}
			for _, want := range []string{
				"Tenant:    acme", "Records:   10,000", "Created:   9,900", "Updated:   0", "Unchanged: 0",
				"Rejected:  100", "Warnings:  3", "Duration:  2m13s",
				"line 313, User name: required: the user's full name",
				"attached error report users-errors.csv",
			} {
				if !strings.Contains(msg.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, msg.Text)
				}
			}
			if !strings.Contains(msg.HTML, "users &lt;2024&gt;.csv") || strings.Contains(msg.HTML, "<2024>") {
				t.Errorf("HTML part does not escape the file name:\n%s", msg.HTML)
			}

			if len(msg.Attachments) != 1 {
				t.Fatalf("%d attachments, want 1", len(msg.Attachments))
			}
			a := msg.Attachments[0]
			if a.FileName != "users-errors.csv" || !strings.HasPrefix(a.ContentType, "text/csv") || a.Size != len(report) {
				t.Errorf("attachment %+v, want users-errors.csv, text/csv, %d bytes", a, len(report))
			}
			if got := string(mp.get("/api/v1/message/"+found[0].ID+"/part/"+a.PartID, nil)); got != report {
				t.Errorf("attachment content %q, want %q", got, report)
			}
		})
	}
}
