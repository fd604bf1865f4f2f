package client

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ImportState is where an import is in its life (docs/state-machine.md).
type ImportState string

// The states of an import.
const (
	ImportPlanning ImportState = "planning" // accepted; its file is being read and cut into chunks
	ImportRunning  ImportState = "running"  // its chunks are being applied
	ImportFinished ImportState = "finished" // every chunk applied (some records may be rejected)
	ImportRejected ImportState = "rejected" // the file was refused as a whole; nothing applied
	ImportFailed   ImportState = "failed"   // stopped by an error no retry mends
)

// Ended reports whether the import will not change any more.
func (s ImportState) Ended() bool {
	return s == ImportFinished || s == ImportRejected || s == ImportFailed
}

// Import is an import as the API shows it.
type Import struct {
	ID        int64       `json:"id"`
	Kind      string      `json:"kind"` // upload, event, retry, feed or local
	State     ImportState `json:"state"`
	Source    string      `json:"source"` // s3://bucket/key
	Records   int         `json:"records"`
	Created   int         `json:"created"`
	Updated   int         `json:"updated"`
	Unchanged int         `json:"unchanged"`
	Rejected  int         `json:"rejected"`
	Progress  int         `json:"progress"` // percent of chunks applied
	DryRun    bool        `json:"dry_run"`
	// WouldCreate is what a finished dry run would create besides users.
	WouldCreate *WouldCreate `json:"would_create,omitempty"`
	Error       string       `json:"error,omitempty"` // why the file was rejected or the import failed
	CreatedAt   time.Time    `json:"created_at"`
	StartedAt   *time.Time   `json:"started_at,omitempty"`
	FinishedAt  *time.Time   `json:"finished_at,omitempty"`
	Links       ImportLinks  `json:"links"`
}

// HasReport reports whether the import has an error report (Errors).
func (im *Import) HasReport() bool { return im.Links.Errors != "" }

// WouldCreate counts the groups and extensions a dry run would create.
type WouldCreate struct {
	Groups     int `json:"groups"`
	Extensions int `json:"extensions"`
}

// ImportLinks are the API paths of an import and its error report.
type ImportLinks struct {
	Self    string `json:"self"`
	Errors  string `json:"errors,omitempty"`
	Results string `json:"results,omitempty"` // once the import has finished
	Undo    string `json:"undo,omitempty"`    // the latest undo of the import
	Undoes  string `json:"undoes,omitempty"`  // the import an undo undid
}

// ImportOptions are an import's settings; the zero value detects the
// delimiter and the header and notifies nobody.
type ImportOptions struct {
	Delimiter string   // "" or auto, comma, semicolon
	Header    string   // "" or auto, skip, none
	Notify    []string // addresses that get the result e-mail
	DryRun    bool     // validate and count what would happen; write no user
}

// Upload starts an import of the file read from r, named name (the report
// is named after it). The file streams to the API as it is read, never held
// in memory; the options go first, so a bad one stores nothing.
func (c *Client) Upload(ctx context.Context, name string, r io.Reader, o ImportOptions) (*Import, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeUpload(mw, name, r, o))
	}()
	resp, err := c.send(ctx, request{method: http.MethodPost, path: "/v1/imports", ctype: mw.FormDataContentType(), body: pr})
	pr.Close() // stops the writer when the API answered before reading it all
	if err != nil {
		return nil, err
	}
	return decodeImport(resp, "POST /v1/imports")
}

func writeUpload(mw *multipart.Writer, name string, r io.Reader, o ImportOptions) error {
	fields := [][2]string{{"delimiter", o.Delimiter}, {"header", o.Header}, {"notify", strings.Join(o.Notify, ",")}}
	if o.DryRun {
		fields = append(fields, [2]string{"dry_run", "true"})
	}
	for _, f := range fields {
		if f[1] == "" {
			continue
		}
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fw, r); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return mw.Close()
}

// UploadFile starts an import of the local file at path (Upload).
func (c *Client) UploadFile(ctx context.Context, path string, o ImportOptions) (*Import, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the caller names the file to upload
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.Upload(ctx, filepath.Base(path), f, o)
}

// ImportObject starts an import of an object already in the service's
// bucket, under one of the tenant's prefixes (uploads/<tenant>/ or
// incoming/<tenant>/): source is s3://bucket/key.
func (c *Client) ImportObject(ctx context.Context, source string, o ImportOptions) (*Import, error) {
	body := struct {
		Source    string   `json:"source"`
		Delimiter string   `json:"delimiter,omitempty"`
		Header    string   `json:"header,omitempty"`
		Notify    []string `json:"notify,omitempty"`
		DryRun    bool     `json:"dry_run"`
	}{source, o.Delimiter, o.Header, o.Notify, o.DryRun}
	var im Import
	if err := c.call(ctx, http.MethodPost, "/v1/imports", nil, body, &im); err != nil {
		return nil, err
	}
	return &im, nil
}

func decodeImport(resp *http.Response, what string) (*Import, error) {
	defer resp.Body.Close()
	var im Import
	if err := jsonDecode(resp.Body, &im); err != nil {
		return nil, fmt.Errorf("%s: decode the answer: %w", what, err)
	}
	return &im, nil
}

// Import returns the import id.
func (c *Client) Import(ctx context.Context, id int64) (*Import, error) {
	var im Import
	if err := c.call(ctx, http.MethodGet, importPath(id), nil, nil, &im); err != nil {
		return nil, err
	}
	return &im, nil
}

// ListOptions select imports: State "" for any; Limit 0 for the API's
// default (100), at most 1000.
type ListOptions struct {
	State ImportState
	Limit int
}

// Imports returns the tenant's imports, newest first.
func (c *Client) Imports(ctx context.Context, o ListOptions) ([]Import, error) {
	q := url.Values{}
	if o.State != "" {
		q.Set("state", string(o.State))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out struct {
		Imports []Import `json:"imports"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/imports", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Imports, nil
}

// Errors returns the import's error report, a CSV file in the import format
// with the columns Line and Errors added, as a stream the caller closes. An
// import without one (not finished, or nothing rejected) gives an *Error
// with code no_report (errors.Is ErrNotFound).
func (c *Client) Errors(ctx context.Context, id int64) (io.ReadCloser, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: importPath(id) + "/errors", accept: "text/csv"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Results returns the import's results file: every record of its file in
// the import format (the password left out) with the columns Line, Outcome
// (created, updated, unchanged or rejected), Changed and Errors added, as a
// stream the caller closes. An import not finished gives an *Error with code
// not_finished; one whose journal was pruned (JOURNAL_RETENTION) or whose
// file is not stored (a local import) code journal_pruned or
// source_not_stored (status 410).
func (c *Client) Results(ctx context.Context, id int64) (io.ReadCloser, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: importPath(id) + "/results", accept: "text/csv"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Retry imports the rejected records of a finished import again, as a new
// import (kind retry) that it returns. Nothing to retry gives an *Error
// with code nothing_to_retry.
func (c *Client) Retry(ctx context.Context, id int64) (*Import, error) {
	var im Import
	if err := c.call(ctx, http.MethodPost, importPath(id)+"/retry", nil, nil, &im); err != nil {
		return nil, err
	}
	return &im, nil
}

// ExportOptions shape an export: Delimiter "comma" (the default) or
// "semicolon".
type ExportOptions struct {
	Delimiter string
}

// Export returns the tenant's users in the import format with a header row
// (password hashes left out), as a stream the caller closes. Importing it
// unchanged reports every record unchanged. A failure midway cuts the
// stream: reading it then ends in an error, never in a short clean file.
func (c *Client) Export(ctx context.Context, o ExportOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if o.Delimiter != "" {
		q.Set("delimiter", o.Delimiter)
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/users", query: q, accept: "text/csv"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func importPath(id int64) string { return "/v1/imports/" + strconv.FormatInt(id, 10) }
