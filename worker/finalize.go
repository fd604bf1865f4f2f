package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// errNotYet makes asynq retry finalize later: a chunk is still running.
var errNotYet = errors.New("chunks still running")

// Finalize finishes an import whose chunks are all applied: it writes the
// error report next to the source, marks the import finished and sends the
// result e-mail. Run again, it changes nothing and sends nothing twice.
func (h *Handlers) Finalize(ctx context.Context, t *asynq.Task) error {
	p, err := task.Parse[task.ImportFinalizePayload](t)
	if err != nil {
		return err
	}
	log := h.d.Log.With(zap.String("tenant", p.Tenant), zap.Int64("import_id", p.ImportID))
	job, err := h.job(ctx, p.Tenant, p.ImportID)
	if err != nil {
		return err
	}
	if !job.State.Ended() {
		if job.Plan == nil || job.ChunksDone < job.Chunks {
			return fmt.Errorf("finalize import %d: %d of %d chunks done: %w", job.ID, job.ChunksDone, job.Chunks, errNotYet)
		}
		res, err := h.writeReport(ctx, &job)
		if err != nil {
			return err
		}
		finished, err := h.d.Store.FinishImport(ctx, p.Tenant, p.ImportID, job.Plan.Warnings)
		if err != nil {
			return err
		}
		if finished {
			h.d.Metrics.ImportDone(job.Kind, time.Since(job.CreatedAt))
		}
		log.Info("import finished", zap.Int("rejected", res.rejects), zap.String("report", res.where))
	}
	if err := h.feeds().AfterImport(ctx, p.Tenant, p.ImportID); err != nil {
		return err
	}
	return h.notify(ctx, log, p)
}

type report struct {
	key, where  string
	mailedKey   string
	rejects     int
	firstErrors []mail.Problem
	mailed      []byte // the start of the mailed copy, up to the attachment limit (readReport)
}

// writeReport streams the rejected records in the upload's format, with Line
// and Errors columns, to a report next to the source (key + ".errors.csv"),
// and the copy that the e-mail attaches or links, without password hashes,
// next to it (MailedReportKey): whatever their size, the worker holds a
// buffer of each, never all of it.
//
// The stored report keeps the file's hashes: it is what Retry imports, and
// only the tenant's token or session reads it (the API's and the web page's
// download), as they could read the file itself. The mailed copy goes to any
// address the tenant chose, and its link works for a week: there the column
// stays, so the format is the same, but empty. An empty password keeps an
// existing user's stored hash and gives a new user the default (the format's
// rule), so the corrected copy imports as it is (docs/security.md).
func (h *Handlers) writeReport(ctx context.Context, job *postgres.Job) (report, error) {
	var res report
	if job.Rejected == 0 {
		return res, nil
	}
	key, err := h.key(job.Source)
	if err != nil {
		return res, err
	}
	delim := job.Plan.Delimiter
	if delim == 0 {
		delim = ','
	}
	layout := job.Plan.Layout()
	res.key = ReportKey(key, job.ID)
	stored, mailed := h.stream(ctx, res.key), h.stream(ctx, MailedReportKey(key, job.ID))
	w, mw := userfile.NewWriter(stored, delim), userfile.NewWriter(mailed, delim)
	err = w.WriteHeader(userrow.ReportLine, userrow.ReportErrors)
	if err == nil {
		err = mw.WriteHeader(userrow.ReportLine, userrow.ReportErrors)
	}
	var (
		reasons  userrow.ReasonCounter
		problems [][2]string
	)
	if err == nil {
		err = h.d.Store.Rejects(ctx, job.Tenant, job.ID, func(r postgres.Reject) error {
			res.rejects++
			problems = problems[:0]
			for _, e := range r.Errors {
				problems = append(problems, [2]string{e.Column, e.Message})
			}
			reasons.Record(problems)
			fields, whole := userfile.StoredRecordColumns(r.Raw, r.Line, delim, layout)
			line, errs := fmt.Sprint(r.Line), postgres.ProblemsText(r.Errors)
			if err := w.WriteRecord(fields, line, errs); err != nil {
				return err
			}
			return mw.WriteRecord(userfile.WithoutHashes(fields, whole), line, errs)
		})
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = mw.Flush()
	}
	// Both uploads end, whatever happened, before the report is recorded.
	if err := errors.Join(stored.finish(err), mailed.finish(err)); err != nil {
		return res, err
	}
	res.where = "s3://" + h.d.Files.Bucket() + "/" + res.key
	rs, other := reasons.Reasons()
	return res, h.d.Store.SetReport(ctx, job.Tenant, job.ID, res.where, rs, other)
}

// upload is an object being written to S3 as it is made: its bytes go
// through a pipe to a multipart upload.
type upload struct {
	*bufio.Writer
	pw   *io.PipeWriter
	done chan error
}

// stream starts the upload of key.
func (h *Handlers) stream(ctx context.Context, key string) *upload {
	pr, pw := io.Pipe()
	u := &upload{Writer: bufio.NewWriterSize(pw, 64<<10), pw: pw, done: make(chan error, 1)}
	go func() {
		_, err := h.d.Files.UploadLean(ctx, key, pr, "text/csv; charset=utf-8")
		_ = pr.CloseWithError(err) // a writer still writing learns the upload gave up
		u.done <- err
	}()
	return u
}

// finish ends the object (abandons it when err is not nil) and waits for the
// upload; it returns the first error of the two.
func (u *upload) finish(err error) error {
	if err == nil {
		err = u.Flush()
	}
	u.pw.CloseWithError(err) // nil: the end of the object
	if uerr := <-u.done; err == nil {
		err = uerr
	}
	return err
}

// ReportSuffix ends the name of every error report; S3 events for such keys
// are not imports (a report dropped under the incoming prefix would otherwise
// start an import of itself).
const ReportSuffix = ".errors.csv"

// ReportKey is where the error report of import id of the source key goes:
// next to the source, one per import (two imports of the same object keep
// their own reports).
func ReportKey(source string, id int64) string {
	return fmt.Sprintf("%s.import-%d%s", strings.TrimSuffix(source, ".csv"), id, ReportSuffix)
}

// MailedReportKey is where the e-mailed copy of the report of import id of
// the source key goes: next to the report, without password hashes.
func MailedReportKey(source string, id int64) string {
	return fmt.Sprintf("%s.import-%d.mailed%s", strings.TrimSuffix(source, ".csv"), id, ReportSuffix)
}

// notify sends the result e-mail once.
func (h *Handlers) notify(ctx context.Context, log *zap.Logger, p task.ImportFinalizePayload) error {
	job, err := h.job(ctx, p.Tenant, p.ImportID)
	if err != nil {
		return err
	}
	if sent, err := h.d.Store.Notified(ctx, p.Tenant, p.ImportID); err != nil || sent {
		return err
	}
	to, err := h.allowedRecipients(ctx, log, p.Tenant, job.Options.Notify)
	if err != nil {
		return err
	}
	if len(to) == 0 {
		log.Info("no one to notify")
		_, err := h.d.Store.MarkNotified(ctx, p.Tenant, p.ImportID)
		return err
	}
	res := mail.Result{
		Tenant: job.Tenant, File: intake.FileName(job.Source), ImportID: job.ID, State: job.State, FileError: job.Error,
		Records: job.Records, Created: job.Created, Updated: job.Updated, Unchanged: job.Unchanged, Rejected: job.Rejected,
		DryRun: job.DryRun, Reasons: job.Reasons, OtherReasons: job.OtherReasons,
	}
	if h.d.PublicURL != "" {
		res.PageURL = fmt.Sprintf("%s/ui/imports/%d", strings.TrimSuffix(h.d.PublicURL, "/"), job.ID)
		if job.State == lifecycle.ImportFinished {
			res.ResultsURL = res.PageURL + "/results"
		}
	}
	if len(job.Reasons) > 0 {
		roles, err := h.d.Store.Roles(ctx, job.Tenant)
		if err != nil {
			return err
		}
		res.Advice = userrow.Advise(job.Reasons[0], len(roles), job.Tenant)
	}
	if res.Feed, err = h.feeds().Summary(ctx, &job); err != nil {
		return err
	}
	if res.Feed != nil {
		res.Feed.RunURL = h.runURL(res.Feed.RunID)
	}
	if job.Plan != nil {
		res.Warnings = job.Plan.Warnings
	}
	if job.FinishedAt != nil && job.StartedAt != nil {
		res.Duration = job.FinishedAt.Sub(*job.StartedAt)
	}
	if job.State == lifecycle.ImportFinished && job.Rejected > 0 && job.Report != "" {
		rep, err := h.readReport(ctx, &job)
		if err != nil {
			return err
		}
		res.FirstErrors = rep.firstErrors
		// The stored report's name: the tenant knows it from the API and
		// the web page.
		res.ReportName = path.Base(rep.key)
		res.HashesLeftOut = true
		if len(rep.mailed) <= h.d.AttachLimit {
			res.Report = rep.mailed
		} else if res.ReportURL, err = h.d.Files.PresignGet(ctx, rep.mailedKey, 7*24*time.Hour); err != nil {
			return err
		}
	}
	err = h.d.Mail.Send(ctx, to, res)
	h.d.Metrics.EmailSent(err)
	if err != nil {
		if mail.IsPermanent(err) {
			log.Warn("result e-mail refused", zap.Error(err))
			_, merr := h.d.Store.MarkNotified(ctx, p.Tenant, p.ImportID)
			return merr // a bad address: retrying will not help, and the import stands
		}
		return fmt.Errorf("send result e-mail: %w", err)
	}
	_, err = h.d.Store.MarkNotified(ctx, p.Tenant, p.ImportID)
	log.Info("result e-mail sent", zap.Int("recipients", len(to)))
	return err
}

// mailedErrors is how many errors the result e-mail lists.
const mailedErrors = 10

var errEnough = errors.New("enough errors for the e-mail")

// readReport reads the report back for the e-mail (a retried finalize may not
// have written it in this attempt).
func (h *Handlers) readReport(ctx context.Context, job *postgres.Job) (report, error) {
	var rep report
	err := h.d.Store.Rejects(ctx, job.Tenant, job.ID, func(r postgres.Reject) error {
		for _, e := range r.Errors {
			if len(rep.firstErrors) == mailedErrors {
				return errEnough // the e-mail shows the first few; the report has them all
			}
			rep.firstErrors = append(rep.firstErrors, mail.Problem{Line: r.Line, Column: e.Column, Message: e.Message})
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return rep, err
	}
	key, err := h.key(job.Source)
	if err != nil {
		return rep, err
	}
	rep.key, rep.mailedKey = ReportKey(key, job.ID), MailedReportKey(key, job.ID)
	body, err := h.d.Files.OpenRange(ctx, rep.mailedKey, 0, -1)
	if errors.Is(err, s3store.ErrNotFound) {
		// A report written before the mailed copy existed: write both.
		if _, err := h.writeReport(ctx, job); err != nil {
			return rep, err
		}
		body, err = h.d.Files.OpenRange(ctx, rep.mailedKey, 0, -1)
	}
	if err != nil {
		return rep, err
	}
	defer body.Close()
	rep.mailed, err = io.ReadAll(io.LimitReader(body, int64(h.d.AttachLimit)+1))
	return rep, err
}

// allowedRecipients are the addresses of addrs that mail.Recipients accepts
// now, with the tenant's domains as they are, and at most NotifyMax of them:
// addresses stored before the rules existed, or before the tenant narrowed
// its domains, get nothing. The entry points refuse such addresses with an
// error; here the others still get their e-mail, and the log says how many
// were left out (never which: STYLE.md §5).
func (h *Handlers) allowedRecipients(ctx context.Context, log *zap.Logger, tenant string, addrs []string) ([]string, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	ts, err := h.d.Store.TenantSettings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	limit := h.d.NotifyMax
	if limit <= 0 {
		limit = mail.DefaultMaxRecipients
	}
	var (
		to               []string
		refused, dropped int
	)
	seen := map[string]bool{}
	for _, a := range addrs {
		ok, err := mail.Recipients([]string{a}, 1, ts.NotifyDomains)
		switch {
		case err != nil:
			refused++
		case len(ok) == 0 || seen[strings.ToLower(ok[0])]:
		case len(to) == limit:
			dropped++
		default:
			seen[strings.ToLower(ok[0])] = true
			to = append(to, ok[0])
		}
	}
	if refused > 0 || dropped > 0 {
		log.Warn("notify addresses left out", zap.Int("refused", refused), zap.Int("over_limit", dropped), zap.Int("recipients", len(to)))
	}
	return to, nil
}
