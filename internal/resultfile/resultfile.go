// Package resultfile writes an import's results file: every record of its
// file, in the file's format (the 27 columns, the password left out), with
// Line, Outcome (created, updated, unchanged or rejected), Changed (the
// columns an update changed) and Errors (a rejection's problems).
//
// Nothing is written while the import runs: the outcomes are derived when the
// file is asked for, so the import pays nothing for them. The source file is
// read again from S3, a batch of records at a time, and each batch's outcomes
// are one query (postgres.Store.RecordResults): created is the user's
// created_by_import, updated the import's journal, rejected its rejects, and
// unchanged the rest. Memory stays flat whatever the file's size.
//
// An undo has no file: its results are the users it touched, as they are now,
// without a line (postgres.Store.UndoResults).
package resultfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// The results file's extra columns.
const (
	ColumnLine    = userrow.ReportLine
	ColumnOutcome = "Outcome"
	ColumnChanged = "Changed"
	ColumnErrors  = userrow.ReportErrors
)

// ErrSourceNotStored says the import's file was not kept where the results
// are read from: an import of a local file (importctl import --local) stores
// none, or the file was deleted since.
var ErrSourceNotStored = errors.New("the import's file is not stored (an import of a local file keeps none, or it was deleted since): its results cannot be read back")

// Batch is how many records one query looks up.
const Batch = 2000

// Store is what the results are derived from (a *postgres.Store).
type Store interface {
	ResultsJob(ctx context.Context, tenant string, id int64) (postgres.Job, error)
	Chunks(ctx context.Context, tenant string, importID int64) ([]postgres.PlannedChunk, error)
	RecordResults(ctx context.Context, j *postgres.Job, lines []int, keys []string) ([]postgres.RecordResult, error)
	UndoResults(ctx context.Context, j *postgres.Job, fn func(*userrow.User, postgres.RecordResult) error) error
}

// Files reads the import's source (an *s3store.Store).
type Files interface {
	Bucket() string
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

var _ Store = (*postgres.Store)(nil)

// File is an import's results file, opened: its checks are behind it, so an
// HTTP handler can answer an error before the first byte.
type File struct {
	store Store
	job   postgres.Job
	first postgres.PlannedChunk // where the records start
	body  io.ReadCloser         // the source from the first record; nil for an undo
}

// Open checks that the import's results can be written and opens its source:
// postgres.ErrNotFound for no such import of the tenant, postgres.ErrNotEnded
// before it finished, postgres.ErrJournalPruned once its journal is gone,
// ErrSourceNotStored without a file. Close the File when done.
func Open(ctx context.Context, store Store, files Files, tenant string, id int64) (*File, error) {
	j, err := store.ResultsJob(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	f := &File{store: store, job: j}
	if j.Kind == lifecycle.KindUndo {
		return f, nil
	}
	bucket, key, err := s3store.ParseURL(j.Source)
	if err != nil || bucket != files.Bucket() || j.Plan == nil {
		return nil, fmt.Errorf("results of import %d: %w", id, ErrSourceNotStored)
	}
	chunks, err := store.Chunks(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if len(chunks) == 0 {
		return f, nil // no records
	}
	f.first = chunks[0]
	f.body, err = files.OpenRange(ctx, key, f.first.Offset, -1)
	if errors.Is(err, s3store.ErrNotFound) {
		return nil, fmt.Errorf("results of import %d: %w", id, ErrSourceNotStored)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Name is the file's name for a download: the source's, with the import's
// ID ("users.import-42.results.csv").
func (f *File) Name() string {
	if f.job.Kind == lifecycle.KindUndo {
		return fmt.Sprintf("undo-%d.import-%d.results.csv", f.job.ParentID, f.job.ID)
	}
	return fmt.Sprintf("%s.import-%d.results.csv", strings.TrimSuffix(intake.FileName(f.job.Source), ".csv"), f.job.ID)
}

// Close closes the source.
func (f *File) Close() error {
	if f.body == nil {
		return nil
	}
	return f.body.Close()
}

// Words of the Outcome column, for what an import did and what a dry run
// would do.
var outcomeWords = map[lifecycle.RecordOutcome]string{
	lifecycle.OutcomeCreate:    "created",
	lifecycle.OutcomeUpdate:    "updated",
	lifecycle.OutcomeUnchanged: "unchanged",
	lifecycle.OutcomeRejected:  "rejected",
}

// WriteTo writes the results file to w, in the source's delimiter, every
// value formula-guarded (userfile.Writer).
func (f *File) WriteTo(ctx context.Context, w io.Writer) error {
	delim := byte(',')
	if f.job.Plan != nil && f.job.Plan.Delimiter != 0 {
		delim = f.job.Plan.Delimiter
	}
	uw := userfile.NewWriter(w, delim)
	if err := uw.WriteHeader(ColumnLine, ColumnOutcome, ColumnChanged, ColumnErrors); err != nil {
		return err
	}
	var err error
	switch {
	case f.job.Kind == lifecycle.KindUndo:
		err = f.store.UndoResults(ctx, &f.job, func(u *userrow.User, r postgres.RecordResult) error {
			v := u.Values()
			v[userrow.Password] = ""
			return writeResult(uw, v[:], "", r)
		})
	case f.body != nil:
		err = f.records(ctx, uw, delim)
	}
	if err != nil {
		return err
	}
	return uw.Flush()
}

func writeResult(w *userfile.Writer, columns []string, line string, r postgres.RecordResult) error {
	return w.WriteRecord(columns, line, outcomeWords[r.Outcome], strings.Join(r.Changed, ";"), postgres.ProblemsText(r.Errors))
}

// record is a record of the source read again: what the file says of it.
type record struct {
	line   int
	fields []string
	raw    []byte
}

// records reads the source a batch at a time and writes each record with
// its outcome.
func (f *File) records(ctx context.Context, w *userfile.Writer, delim byte) error {
	layout := f.job.Plan.Layout()
	login := layout.FieldOf(userrow.LoginID)
	rd := csvfile.NewReader(f.body, csvfile.Options{
		Delimiter: delim, Fields: layout.Fields(), MaxFileBytes: -1,
		StartLine: f.first.FirstLine, StartOffset: f.first.Offset,
	})
	var (
		batch []record
		lines []int
		keys  []string
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := f.store.RecordResults(ctx, &f.job, lines, keys)
		if err != nil {
			return err
		}
		for i, rec := range batch {
			cols, whole := userfile.RecordColumns(rec.fields, rec.raw, layout)
			if err := writeResult(w, userfile.WithoutHashes(cols, whole), strconv.Itoa(rec.line), res[i]); err != nil {
				return err
			}
		}
		batch, lines, keys = batch[:0], lines[:0], keys[:0]
		return nil
	}
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return flush()
		}
		if err != nil {
			return fmt.Errorf("read the source of import %d again: %w", f.job.ID, err)
		}
		r := record{line: rec.Line}
		key := ""
		if rec.Fields != nil {
			r.fields = append([]string(nil), rec.Fields...)
			if login >= 0 && login < len(rec.Fields) {
				key = strings.ToLower(rec.Fields[login])
			}
		} else {
			r.raw = append([]byte(nil), rd.Raw()...)
		}
		batch, lines, keys = append(batch, r), append(lines, rec.Line), append(keys, key)
		if len(batch) == Batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// Refusal is how an HTTP answer tells why there are no results: its status
// and a stable code; false for an error that is no refusal (a failure).
func Refusal(err error) (status int, code string, refused bool) {
	switch {
	case errors.Is(err, postgres.ErrNotFound):
		return http.StatusNotFound, "not_found", true
	case errors.Is(err, postgres.ErrNotEnded):
		return http.StatusConflict, "not_finished", true
	case errors.Is(err, postgres.ErrJournalPruned):
		return http.StatusGone, "journal_pruned", true
	case errors.Is(err, ErrSourceNotStored):
		return http.StatusGone, "source_not_stored", true
	}
	return 0, "", false
}
