package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/resultfile"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// importRow is an import as the pages show it.
type importRow struct {
	postgres.Import
	Progress int // percent of chunks applied
	Active   bool
}

func newImportRow(im postgres.Import) importRow {
	v := importRow{Import: im}
	if im.Chunks > 0 {
		v.Progress = 100 * im.ChunksDone / im.Chunks
	}
	switch im.State {
	case lifecycle.ImportFinished, lifecycle.ImportRejected:
		v.Progress = 100
	case lifecycle.ImportPlanning, lifecycle.ImportRunning:
		v.Active = true
	case lifecycle.ImportFailed: // its progress as it stopped
	}
	return v
}

type feedRuns struct {
	Feed string
	Runs []postgres.FeedRun
}

type listData struct {
	Imports []importRow
	Feeds   []feedRuns
}

// list shows the tenant's imports and feed runs, refreshing while one runs.
func (u *UI) list(w http.ResponseWriter, r *http.Request, s *session) {
	if r.URL.Path != "/ui/" {
		u.notFound(w, r, s, "There is no such page.")
		return
	}
	ims, err := u.d.Store.Imports(r.Context(), s.Tenant, "", 50)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	p := page{Title: "Imports", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "imports"}
	var d listData
	for _, im := range ims {
		v := newImportRow(im)
		if v.Active && p.Follow == "" {
			p.live(r, 3)
		}
		d.Imports = append(d.Imports, v)
	}
	feeds, err := u.d.Store.Feeds(r.Context(), s.Tenant)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	for _, f := range feeds {
		runs, err := u.d.Store.FeedRuns(r.Context(), s.Tenant, f.ID, 5)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Feeds = append(d.Feeds, feedRuns{Feed: f.Name, Runs: runs})
	}
	p.D = d
	u.render(w, r, http.StatusOK, "list", p)
}

// uploadForm is the upload form's values.
type uploadForm struct {
	Delimiter string
	Header    string
	Notify    string
}

// uploadPage offers the tenant's defaults (the settings): its recipients,
// delimiter and header mode.
func (u *UI) uploadPage(w http.ResponseWriter, r *http.Request, s *session) {
	ts, err := u.d.Store.TenantSettings(r.Context(), s.Tenant)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	f := uploadForm{Delimiter: cmp.Or(ts.DefaultDelimiter, "auto"), Header: cmp.Or(ts.DefaultHeader, "auto"),
		Notify: strings.Join(ts.DefaultNotify, ", ")}
	u.render(w, r, http.StatusOK, "upload", page{Title: "Upload a file", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "upload", D: f})
}

// formError is a mistake in a form that the admin can fix; its text says how.
type formError string

func (e formError) Error() string { return string(e) }

// upload streams the file to S3 and starts its dry run. The form sends the
// CSRF token and the options before the file, so that they are checked
// before anything is stored.
func (u *UI) upload(w http.ResponseWriter, r *http.Request, s *session) {
	f := uploadForm{Delimiter: "auto", Header: "auto"}
	if u.d.UploadSlot != nil {
		release, err := u.d.UploadSlot(s.Tenant)
		var busy *BusyError
		if errors.As(err, &busy) {
			w.Header().Set("Retry-After", strconv.Itoa(max(int(busy.RetryAfter.Seconds()), 1)))
			u.render(w, r, busy.Status, "upload", page{Title: "Upload a file", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "upload",
				Error: busy.Message, D: f})
			return
		}
		if err != nil {
			u.fail(w, r, err)
			return
		}
		defer release()
	}
	r.Body = http.MaxBytesReader(w, r.Body, u.d.MaxUpload)
	id, err := u.uploadDryRun(r, s, &f)
	if err != nil {
		var fe formError
		var tooLarge *http.MaxBytesError
		switch {
		case errors.Is(err, errCSRF):
			u.forbidden(w, r, s)
		case errors.As(err, &tooLarge):
			u.render(w, r, http.StatusRequestEntityTooLarge, "upload", page{Title: "Upload a file", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "upload",
				Error: fmt.Sprintf("The file is larger than %d MiB.", u.d.MaxUpload>>20), D: f})
		case errors.Is(err, os.ErrDeadlineExceeded):
			u.render(w, r, http.StatusRequestTimeout, "upload", page{Title: "Upload a file", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "upload",
				Error: u.d.SlowBody, D: f})
		case errors.As(err, &fe):
			u.render(w, r, http.StatusBadRequest, "upload", page{Title: "Upload a file", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "upload",
				Error: fe.Error(), D: f})
		default:
			u.fail(w, r, err)
		}
		return
	}
	seeOther(w, r, fmt.Sprintf("/ui/imports/%d/preview", id))
}

var errCSRF = errors.New("missing or wrong CSRF token")

func (u *UI) uploadDryRun(r *http.Request, s *session, f *uploadForm) (int64, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return 0, formError("Send the form as a file upload (multipart/form-data).")
	}
	var (
		source string
		notify []string
		csrfOK bool
	)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		name := part.FormName()
		if name == "file" {
			if !csrfOK {
				return 0, errCSRF
			}
			if part.FileName() == "" {
				return 0, formError("Choose a file to upload.")
			}
			if err := u.checkForm(r.Context(), s.Tenant, f, &notify); err != nil {
				return 0, err
			}
			key := intake.UploadKey(s.Tenant, part.FileName())
			if _, err := u.d.Files.Upload(r.Context(), key, part, "text/csv"); err != nil {
				return 0, err
			}
			source = "s3://" + u.d.Files.Bucket() + "/" + key
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, 4096))
		if err != nil {
			return 0, err
		}
		v := strings.TrimSpace(string(b))
		switch name {
		case "csrf":
			csrfOK = u.csrfOK(s, v)
			if !csrfOK {
				return 0, errCSRF
			}
		case "delimiter":
			f.Delimiter = v
		case "header":
			f.Header = v
		case "notify":
			f.Notify = v
		}
	}
	if !csrfOK {
		return 0, errCSRF
	}
	if source == "" {
		return 0, formError("Choose a file to upload.")
	}
	opts := lifecycle.Options{Delimiter: f.Delimiter, Header: f.Header, DryRun: true}
	id, err := u.start(r.Context(), postgres.NewImport{Tenant: s.Tenant, Source: source, RequestedBy: "web", Options: opts})
	if err != nil {
		return 0, err
	}
	// The dry run notifies nobody; the addresses wait for the real import.
	if err := u.d.Store.CreatePreview(r.Context(), s.Tenant, id, notify); err != nil {
		return 0, err
	}
	u.d.Log.Info("web dry run queued", zap.String("tenant", s.Tenant), zap.Int64("import_id", id))
	return id, nil
}

// checkForm checks the upload's options, as the API does; the addresses to
// notify as intake.Recipients does, with the tenant's domains.
func (u *UI) checkForm(ctx context.Context, tenant string, f *uploadForm, notify *[]string) error {
	if _, err := userfile.ParseDelimiter(f.Delimiter); err != nil {
		return formError("Delimiter: choose auto, comma or semicolon.")
	}
	if _, err := userrow.ParseHeaderMode(f.Header); err != nil {
		return formError("Header row: choose auto, skip or none.")
	}
	// One address a line, or separated by commas, semicolons or spaces.
	addrs := strings.FieldsFunc(f.Notify, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	to, err := u.d.Intake.Recipients(ctx, tenant, addrs)
	var bad *mail.RecipientError
	if errors.As(err, &bad) {
		return formError(capitalize(strings.TrimPrefix(bad.Error(), "notify: ")) + ".")
	}
	if err != nil {
		return err
	}
	*notify = to
	return nil
}

// capitalize makes a form error's first letter upper case.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// start records an import and queues its plan task.
func (u *UI) start(ctx context.Context, n postgres.NewImport) (int64, error) {
	im, _, err := u.d.Intake.Start(ctx, n)
	return im.ID, err
}

// lookup finds the tenant's import named in the path; another tenant's is
// answered exactly like a missing one (404).
func (u *UI) lookup(w http.ResponseWriter, r *http.Request, s *session) (postgres.Import, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		u.notFound(w, r, s, "There is no such import.")
		return postgres.Import{}, false
	}
	im, err := u.d.Store.Import(r.Context(), s.Tenant, id)
	if errors.Is(err, postgres.ErrNotFound) {
		u.notFound(w, r, s, fmt.Sprintf("There is no import %d.", id))
		return im, false
	}
	if err != nil {
		u.fail(w, r, err)
		return im, false
	}
	return im, true
}

type importData struct {
	importRow
	WouldGroups, WouldExtensions int
	ShowWould                    bool
	Preview                      *postgres.Preview
	CanRetry                     bool
	// CanUndo: the import has ended and changed the store (not a dry run).
	CanUndo    bool
	UndoneBy   int64 // the latest undo of the import; 0 for none
	Undoes     int64 // the import an undo undid; 0 for another kind
	ReportName string
	// HasResults: the import has finished, so it has a results file.
	HasResults bool
	FileName   string // the file as its uploader named it
	Advice     string // what to do about the largest group of rejections
}

func (u *UI) importPage(w http.ResponseWriter, r *http.Request, s *session) {
	im, ok := u.lookup(w, r, s)
	if !ok {
		return
	}
	d := importData{importRow: newImportRow(im), CanRetry: im.State == lifecycle.ImportFinished && im.Report != "" && im.Rejected > 0,
		FileName: intake.FileName(im.Source), CanUndo: !im.DryRun && im.State.Ended(), UndoneBy: im.UndoneBy,
		HasResults: im.State == lifecycle.ImportFinished}
	if im.Kind == lifecycle.KindUndo {
		d.Undoes = im.ParentID
	}
	if len(im.Reasons) > 0 {
		roles, err := u.d.Store.Roles(r.Context(), s.Tenant)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Advice = userrow.Advise(im.Reasons[0], len(roles), s.Tenant)
	}
	if im.Report != "" {
		d.ReportName = path.Base(im.Report)
	}
	if im.DryRun && im.State == lifecycle.ImportFinished {
		g, e, err := u.d.Store.WouldCreate(r.Context(), s.Tenant, im.ID)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.WouldGroups, d.WouldExtensions, d.ShowWould = g, e, true
	}
	if im.DryRun {
		pv, err := u.d.Store.Preview(r.Context(), s.Tenant, im.ID)
		switch {
		case err == nil:
			d.Preview = &pv
		case !errors.Is(err, postgres.ErrNotFound):
			u.fail(w, r, err)
			return
		}
	}
	p := page{Title: fmt.Sprintf("Import %d", im.ID), Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "imports", D: d}
	if d.Active {
		p.live(r, 2)
	}
	switch r.URL.Query().Get("notice") {
	case "retry":
		p.Notice = "The rejected records are being imported again."
	case "executed":
		p.Notice = "The import has started."
	case "undone":
		p.Notice = "The import was undone."
	}
	u.render(w, r, http.StatusOK, "import", p)
}

// errorReport streams the import's error report, as GET /v1/imports/{id}/errors.
func (u *UI) errorReport(w http.ResponseWriter, r *http.Request, s *session) {
	im, ok := u.lookup(w, r, s)
	if !ok {
		return
	}
	if im.Report == "" {
		u.notFound(w, r, s, "The import has no error report: it is not finished, or it rejected no record.")
		return
	}
	_, key, err := s3store.ParseURL(im.Report)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	body, err := u.d.Files.OpenRange(r.Context(), key, 0, -1)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(key)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := io.Copy(w, body); err != nil {
		u.d.Log.Warn("error report interrupted", zap.Int64("import_id", im.ID), zap.Error(err))
	}
}

// results streams the import's results file, as GET /v1/imports/{id}/results.
func (u *UI) results(w http.ResponseWriter, r *http.Request, s *session) {
	im, ok := u.lookup(w, r, s)
	if !ok {
		return
	}
	f, err := resultfile.Open(r.Context(), u.d.Store, u.d.Files, s.Tenant, im.ID)
	if status, _, refused := resultfile.Refusal(err); refused {
		u.render(w, r, status, "message", page{Title: "No results file", Tenant: s.Tenant, CSRF: u.csrf(s),
			D: message{Heading: "No results file", Text: err.Error(), Link: "Back to the import", LinkTo: fmt.Sprintf("/ui/imports/%d", im.ID)}})
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", f.Name()))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if err := f.WriteTo(r.Context(), w); err != nil {
		u.d.Log.Warn("results file interrupted", zap.Int64("import_id", im.ID), zap.Error(err))
	}
}

func (u *UI) retry(w http.ResponseWriter, r *http.Request, s *session) {
	im, ok := u.lookup(w, r, s)
	if !ok {
		return
	}
	child, err := u.d.Intake.Retry(r.Context(), s.Tenant, im.ID)
	if errors.Is(err, intake.ErrNothingToRetry) {
		u.render(w, r, http.StatusConflict, "message", page{Title: "Nothing to retry", Tenant: s.Tenant, CSRF: u.csrf(s),
			D: message{Heading: "Nothing to retry", Text: "The import has no rejected records to retry: it is not finished, or it rejected none.",
				Link: "Back to the import", LinkTo: fmt.Sprintf("/ui/imports/%d", im.ID)}})
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	seeOther(w, r, fmt.Sprintf("/ui/imports/%d?notice=retry", child.ID))
}
