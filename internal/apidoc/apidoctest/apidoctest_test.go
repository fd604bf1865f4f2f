package apidoctest_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/apidoc/apidoctest"
)

const goodImport = `{"id":7,"kind":"upload","state":"running","source":"s3://userimport/uploads/acme/a.csv","records":10,"created":0,` +
	`"updated":0,"unchanged":0,"rejected":0,"progress":50,"dry_run":false,"created_at":"2026-11-25T11:37:27.639245Z","links":{"self":"/v1/imports/7"}}`

// The transport lets a documented response through and refuses one of the
// wrong shape or with an undocumented status, naming what is wrong.
func TestTransportRefusesWhatTheDocumentLacks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		path   string
		status int
		ctype  string
		body   string
		want   string // in the error; empty: no error
	}{
		{name: "documented import", path: "/v1/imports/7", status: http.StatusOK, ctype: "application/json", body: goodImport},
		{name: "documented error", path: "/v1/imports/8", status: http.StatusNotFound, ctype: "application/json",
			body: `{"error":{"code":"not_found","message":"no such import"}}`},
		{name: "outside /v1/ unchecked", path: "/healthz", status: http.StatusTeapot, ctype: "text/plain", body: "ok"},
		{name: "id of the wrong type", path: "/v1/imports/7", status: http.StatusOK, ctype: "application/json",
			body: strings.Replace(goodImport, `"id":7`, `"id":"7"`, 1), want: "id"},
		{name: "undocumented field", path: "/v1/imports/7", status: http.StatusOK, ctype: "application/json",
			body: strings.Replace(goodImport, `"id":7`, `"id":7,"secret":"x"`, 1), want: "secret"},
		{name: "undocumented status", path: "/v1/imports/7", status: http.StatusTeapot, ctype: "application/json",
			body: `{"error":{"code":"internal","message":"x"}}`, want: "418"},
		{name: "error of another shape", path: "/v1/imports/7", status: http.StatusNotFound, ctype: "application/json",
			body: `{"message":"no such import"}`, want: "error"},
		{name: "undocumented content type", path: "/v1/imports/7", status: http.StatusOK, ctype: "text/html", body: "<p>hi</p>", want: "text/html"},
		{name: "undocumented path", path: "/v1/nowhere", status: http.StatusOK, ctype: "application/json", body: `{}`, want: "nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			tr, err := apidoctest.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("documented response refused: %v", err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil || string(b) != tt.body {
					t.Errorf("body %q (%v), want %q: the transport must hand the body on", b, err, tt.body)
				}
				if ms := tr.Mismatches(); len(ms) != 0 {
					t.Errorf("mismatches %q, want none", ms)
				}
				return
			}
			if err == nil {
				_ = resp.Body.Close()
				t.Fatalf("%d %s %s let through, want an error naming %q", tt.status, tt.ctype, tt.body, tt.want)
			}
			if !errors.Is(err, apidoctest.ErrMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want ErrMismatch naming %q", err, tt.want)
			}
			if ms := tr.Mismatches(); len(ms) != 1 {
				t.Errorf("%d mismatches recorded, want 1", len(ms))
			}
		})
	}
}

// Main fails a run whose tests passed when a response did not match.
func TestMainFailsOnAMismatch(t *testing.T) {
	// Not parallel: Main replaces http.DefaultTransport, as in a TestMain.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	saved := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = saved })
	code := apidoctest.Main(func() int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/feeds", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil { // a test that ignores the error
			_ = resp.Body.Close()
		}
		return 0
	})
	if code != 1 {
		t.Errorf("Main returned %d after an undocumented 418, want 1", code)
	}
}
