package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// The preview reads the uploaded file from S3 a chunk at a time: the dry
// run's plan stores each chunk's byte range, first line and number of
// records, so a page of 100 records costs reading one or two chunks (the
// workers' CHUNK_SIZE records each), never the whole file. Only the "changes"
// filter reads every chunk, since which records would change is known only
// by comparing each with the users stored (the engine stores no outcome per
// record).

// record is one record of the file as the preview shows it.
type record struct {
	Line        int
	Offset, End int64
	Fields      []string
	Raw         string
	Problems    []postgres.ProblemJSON
	User        userrow.User
	Edited      bool
}

func (r *record) valid() bool { return len(r.Problems) == 0 }

// source is a planned import's file, ready to be read a chunk at a time.
type source struct {
	job      postgres.Job
	key      string
	chunks   []postgres.PlannedChunk
	opts     userfile.Options // the plan's delimiter and the tenant's roles
	layout   *userrow.Layout
	rejected map[int]userrow.Problem // the whole-file rejections of the chunk read last
	validate *userrow.Validator
	edits    map[int]postgres.Edit
}

// openSource reads what a preview needs from PostgreSQL; nil when the import
// has no plan yet.
func (u *UI) openSource(ctx context.Context, tenant string, id int64) (*source, error) {
	job, err := u.d.Store.Job(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if job.Plan == nil {
		return nil, nil
	}
	bucket, key, err := s3store.ParseURL(job.Source)
	if err != nil || bucket != u.d.Files.Bucket() {
		return nil, fmt.Errorf("import %d: source %s is not in bucket %s", id, job.Source, u.d.Files.Bucket())
	}
	src := &source{job: job, key: key}
	if src.chunks, err = u.d.Store.Chunks(ctx, tenant, id); err != nil {
		return nil, err
	}
	roles, err := u.d.Store.Roles(ctx, tenant)
	if err != nil {
		return nil, err
	}
	src.opts = userfile.Options{Roles: roles}
	src.layout = job.Plan.Layout()
	src.validate = userrow.NewValidator(userrow.Options{Roles: roles})
	src.edits, err = u.d.Store.Edits(ctx, tenant, id)
	return src, err
}

func (src *source) columns() []userrow.Column {
	out := make([]userrow.Column, src.layout.Fields())
	for i := range out {
		out[i] = src.layout.Column(i)
	}
	return out
}

// readChunk returns the records of chunk c as the file has them (edits not
// applied).
func (u *UI) readChunk(ctx context.Context, src *source, c postgres.PlannedChunk) ([]record, error) {
	body, err := u.d.Files.OpenRange(ctx, src.key, c.Offset, c.Length)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	if src.rejected, err = u.d.Store.FileRejects(ctx, src.job.Tenant, src.job.ID, c.Seq); err != nil {
		return nil, err
	}
	rd := userfile.NewReader(body, src.job.Plan.RangeOptions(src.opts, c.Chunk, src.rejected))
	defer rd.Close()
	out := make([]record, 0, c.Records)
	for {
		r, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read chunk %d of %s: %w", c.Seq, src.job.Source, err)
		}
		out = append(out, record{Line: r.Line, Offset: r.Offset, End: r.End, Fields: slices.Clone(r.Fields),
			Raw: string(r.Raw()), Problems: problemsJSON(r.Errors), User: r.User})
	}
}

// applyEdit puts the admin's correction of the record, if any, in place.
func (src *source) applyEdit(r *record) {
	e, ok := src.edits[r.Line]
	if !ok {
		return
	}
	r.Fields, r.Edited = e.Fields, true
	r.User, _ = src.validate.Validate(src.layout, e.Fields)
	r.Problems = e.Errors
}

// check validates a corrected record: its own fields, and the whole-file
// rejection the plan found unless the Login ID it was about changed (the
// real import checks the whole file again). The record's chunk must be the
// one read last.
func (src *source) check(line int, original, fields []string) []postgres.ProblemJSON {
	_, probs := src.validate.Validate(src.layout, fields)
	if p, ok := src.rejected[line]; ok {
		i := src.layout.FieldOf(p.Column)
		if p.Column != userrow.LoginID || i < 0 || i >= len(original) || i >= len(fields) || original[i] == fields[i] {
			probs = append(probs, p)
		}
	}
	return problemsJSON(probs)
}

func problemsJSON(probs []userrow.Problem) []postgres.ProblemJSON {
	out := make([]postgres.ProblemJSON, len(probs))
	for i, p := range probs {
		out[i] = postgres.ProblemJSON{Column: p.Column.String(), Message: p.Message}
	}
	return out
}

// chunkOf returns the index of the chunk holding line, or -1.
func chunkOf(chunks []postgres.PlannedChunk, line int) int {
	i := sort.Search(len(chunks), func(i int) bool { return chunks[i].FirstLine > line }) - 1
	return i
}

// Filters of the preview.
const (
	filterAll     = "all"
	filterInvalid = "invalid"
	filterChanges = "changes"
)

// recordsPage returns the records of a page of the filter, and how many
// records the filter selects in all.
func (u *UI) recordsPage(ctx context.Context, src *source, filter string, page int) ([]record, int, error) {
	from := (page - 1) * pageSize
	switch filter {
	case filterInvalid:
		lines, total, err := u.d.Store.RejectLines(ctx, src.job.Tenant, src.job.ID, from, pageSize)
		if err != nil {
			return nil, 0, err
		}
		out, err := u.readLines(ctx, src, lines)
		return out, total, err
	case filterChanges:
		// The dry run stored each record's outcome; only the corrected
		// records are classified again, now.
		edited, extra, err := u.changedEdits(ctx, src)
		if err != nil {
			return nil, 0, err
		}
		lines, total, err := u.d.Store.ChangedLines(ctx, src.job.Tenant, src.job.ID, edited, extra, from, pageSize)
		if err != nil {
			return nil, 0, err
		}
		out, err := u.readLines(ctx, src, lines)
		return out, total, err
	default:
		total := 0
		for _, c := range src.chunks {
			total += c.Records
		}
		var out []record
		seen := 0
		for _, c := range src.chunks {
			if seen+c.Records <= from || len(out) == pageSize {
				seen += c.Records
				continue
			}
			recs, err := u.readChunk(ctx, src, c)
			if err != nil {
				return nil, 0, err
			}
			for _, r := range recs {
				if seen >= from && len(out) < pageSize {
					out = append(out, r)
				}
				seen++
			}
		}
		return out, total, nil
	}
}

// readLines reads the records at lines (ascending), from the chunks that
// hold them.
func (u *UI) readLines(ctx context.Context, src *source, lines []int) ([]record, error) {
	want := make(map[int]bool, len(lines))
	var seqs []int
	for _, l := range lines {
		want[l] = true
		if i := chunkOf(src.chunks, l); i >= 0 && !slices.Contains(seqs, i) {
			seqs = append(seqs, i)
		}
	}
	var out []record
	for _, i := range seqs {
		recs, err := u.readChunk(ctx, src, src.chunks[i])
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if want[r.Line] {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// changedEdits returns the lines of the corrected records, and of those the
// ones whose corrected record would create or update a user.
func (u *UI) changedEdits(ctx context.Context, src *source) (edited, changed []int, err error) {
	var recs []*record
	for line, e := range src.edits {
		edited = append(edited, line)
		if len(e.Errors) > 0 {
			continue
		}
		r := &record{Line: line, Fields: e.Fields}
		src.applyEdit(r)
		if r.valid() {
			recs = append(recs, r)
		}
	}
	outcomes, err := u.wouldChange(ctx, src.job.Tenant, recs)
	if err != nil {
		return nil, nil, err
	}
	for i, r := range recs {
		if outcomes[i] != lifecycle.OutcomeUnchanged {
			changed = append(changed, r.Line)
		}
	}
	return edited, changed, nil
}

func (u *UI) wouldChange(ctx context.Context, tenant string, recs []*record) ([]lifecycle.RecordOutcome, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	users := make([]*userrow.User, len(recs))
	for i, r := range recs {
		users[i] = &r.User
	}
	return u.d.Store.WouldChange(ctx, tenant, users)
}

// cellView is one field of a record on the page.
type cellView struct {
	Index    int
	Name     string
	Value    string
	Problems []string
}

// rowView is one record on the page.
type rowView struct {
	Line     int
	Cells    []cellView
	Problems []string // about the record as a whole, or columns the file lacks
	Raw      string   // shown when the record could not be split into fields
	Invalid  bool
	Edited   bool
	Outcome  lifecycle.RecordOutcome
	Editing  bool
}

type previewData struct {
	Import          importRow
	Planned         bool
	Finished        bool
	Editable        bool // a dry run not executed yet
	Executable      bool
	ExecutedID      int64
	Columns         []string
	Rows            []rowView
	Filter          string
	Page, Pages     int
	Total           int
	From, To        int
	Prev, Next      string
	WouldGroups     int
	WouldExtensions int
	Edits           int
	Query           string // filter and page, for the forms' return
}

func parsePage(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func parseFilter(v string) string {
	switch v {
	case filterInvalid, filterChanges:
		return v
	}
	return filterAll
}

// preview shows a page of the file's records with their problems, the dry
// run's counts, and the forms to correct records and execute the import.
func (u *UI) preview(w http.ResponseWriter, r *http.Request, s *session) {
	im, ok := u.lookup(w, r, s)
	if !ok {
		return
	}
	q := r.URL.Query()
	d := previewData{Import: newImportRow(im), Filter: parseFilter(q.Get("filter")), Page: parsePage(q.Get("page"))}
	d.Query = url.Values{"filter": {d.Filter}, "page": {strconv.Itoa(d.Page)}}.Encode()
	p := page{Title: fmt.Sprintf("Preview of import %d", im.ID), Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "imports"}
	if d.Import.Active {
		p.live(r, 2)
	}
	if saved := q.Get("saved"); saved != "" {
		p.Notice = "Line " + strconv.Itoa(parsePage(saved)) + " saved."
	}
	d.Finished = im.State == lifecycle.ImportFinished
	if im.DryRun {
		pv, err := u.d.Store.Preview(r.Context(), s.Tenant, im.ID)
		switch {
		case err == nil:
			d.ExecutedID = pv.ExecutedID
		case !errors.Is(err, postgres.ErrNotFound):
			u.fail(w, r, err)
			return
		}
		d.Editable = d.ExecutedID == 0
		d.Executable = d.Editable && d.Finished
	}
	if d.Finished && im.DryRun {
		g, e, err := u.d.Store.WouldCreate(r.Context(), s.Tenant, im.ID)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.WouldGroups, d.WouldExtensions = g, e
	}
	src, err := u.openSource(r.Context(), s.Tenant, im.ID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if src == nil {
		p.D = d
		u.render(w, r, http.StatusOK, "preview", p)
		return
	}
	d.Planned, d.Edits = true, len(src.edits)
	for _, c := range src.columns() {
		name := c.String()
		if c == userrow.NoColumn {
			name = "(not imported)"
		}
		d.Columns = append(d.Columns, name)
	}
	recs, total, err := u.recordsPage(r.Context(), src, d.Filter, d.Page)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d.Total, d.Pages = total, max(1, (total+pageSize-1)/pageSize)
	if d.Page > d.Pages && total > 0 {
		seeOther(w, r, "?"+url.Values{"filter": {d.Filter}, "page": {strconv.Itoa(d.Pages)}}.Encode())
		return
	}
	d.From, d.To = (d.Page-1)*pageSize+1, (d.Page-1)*pageSize+len(recs)
	if d.Page > 1 {
		d.Prev = "?" + url.Values{"filter": {d.Filter}, "page": {strconv.Itoa(d.Page - 1)}}.Encode()
	}
	if d.Page < d.Pages {
		d.Next = "?" + url.Values{"filter": {d.Filter}, "page": {strconv.Itoa(d.Page + 1)}}.Encode()
	}
	// What the dry run rejected is authoritative for the records not
	// corrected since: it also knows what the database refused.
	var lines []int
	for i := range recs {
		if _, edited := src.edits[recs[i].Line]; !edited {
			lines = append(lines, recs[i].Line)
		}
	}
	stored, err := u.d.Store.RejectsAt(r.Context(), s.Tenant, im.ID, lines)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	var valid []*record
	for i := range recs {
		rec := &recs[i]
		src.applyEdit(rec)
		if probs, ok := stored[rec.Line]; ok && !rec.Edited {
			rec.Problems = probs
		}
		if rec.valid() {
			valid = append(valid, rec)
		}
	}
	outcomes, err := u.wouldChange(r.Context(), s.Tenant, valid)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	outcome := make(map[int]lifecycle.RecordOutcome, len(valid))
	for i, rec := range valid {
		outcome[rec.Line] = outcomes[i]
	}
	editLine, _ := strconv.Atoi(q.Get("edit"))
	for i := range recs {
		v := src.rowView(&recs[i])
		v.Outcome = outcome[v.Line]
		if v.Invalid {
			v.Outcome = lifecycle.OutcomeRejected
		}
		v.Editing = d.Editable && v.Line == editLine
		d.Rows = append(d.Rows, v)
	}
	p.D = d
	u.render(w, r, http.StatusOK, "preview", p)
}

// rowView lays a record out for the page: each problem goes to its column's
// cell, or to the record's when the file has no such column.
func (src *source) rowView(rec *record) rowView {
	cols := src.columns()
	v := rowView{Line: rec.Line, Invalid: !rec.valid(), Edited: rec.Edited}
	at := map[string]int{}
	for i, c := range cols {
		cell := cellView{Index: i, Name: c.String()}
		if c == userrow.NoColumn {
			cell.Name = "(not imported)"
		} else {
			at[c.String()] = i
		}
		if i < len(rec.Fields) {
			cell.Value = rec.Fields[i]
		}
		v.Cells = append(v.Cells, cell)
	}
	for _, p := range rec.Problems {
		if i, ok := at[p.Column]; ok && p.Column != "" {
			v.Cells[i].Problems = append(v.Cells[i].Problems, p.Message)
			continue
		}
		msg := p.Message
		if p.Column != "" {
			msg = p.Column + ": " + msg
		}
		v.Problems = append(v.Problems, msg)
	}
	if rec.Fields == nil {
		v.Raw = rec.Raw
	}
	return v
}

// edit saves the correction of one record, re-validated at once, and goes
// back to the preview's page.
func (u *UI) edit(w http.ResponseWriter, r *http.Request, s *session) {
	im, ok := u.lookup(w, r, s)
	if !ok {
		return
	}
	line, err := strconv.Atoi(r.PathValue("line"))
	if !im.DryRun {
		u.notFound(w, r, s, "Only a dry run's records can be corrected.")
		return
	}
	src, err2 := u.openSource(r.Context(), s.Tenant, im.ID)
	if err2 != nil {
		u.fail(w, r, err2)
		return
	}
	if err != nil || src == nil || chunkOf(src.chunks, line) < 0 {
		u.notFound(w, r, s, "There is no such record.")
		return
	}
	recs, err := u.readChunk(r.Context(), src, src.chunks[chunkOf(src.chunks, line)])
	if err != nil {
		u.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(recs, func(x record) bool { return x.Line == line })
	if i < 0 {
		u.notFound(w, r, s, "There is no such record.")
		return
	}
	rec := recs[i]
	if err := u.d.Store.CreatePreview(r.Context(), s.Tenant, im.ID, nil); err != nil {
		u.fail(w, r, err)
		return
	}
	pv, err := u.d.Store.Preview(r.Context(), s.Tenant, im.ID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if pv.ExecutedID != 0 {
		u.conflict(w, r, s, im.ID, "The import was executed already: its records can no longer be corrected.")
		return
	}
	original := rec.Fields
	src.applyEdit(&rec)
	fields := make([]string, src.layout.Fields())
	for i := range fields {
		if i < len(rec.Fields) {
			fields[i] = rec.Fields[i]
		}
		if v, ok := r.PostForm["f"+strconv.Itoa(i)]; ok && len(v) > 0 {
			fields[i] = strings.TrimSpace(v[0])
		}
	}
	e := postgres.Edit{Line: line, Offset: rec.Offset, End: rec.End, Fields: fields, Errors: src.check(line, original, fields)}
	if err := u.d.Store.SaveEdit(r.Context(), s.Tenant, im.ID, e); err != nil {
		u.fail(w, r, err)
		return
	}
	u.d.Log.Info("web record corrected", zap.String("tenant", s.Tenant), zap.Int64("import_id", im.ID), zap.Int("line", line),
		zap.Int("problems", len(e.Errors)))
	back := url.Values{"filter": {parseFilter(r.PostFormValue("filter"))}, "page": {strconv.Itoa(parsePage(r.PostFormValue("page")))},
		"saved": {strconv.Itoa(line)}}
	if len(e.Errors) > 0 {
		back.Set("edit", strconv.Itoa(line)) // still invalid: keep the form open
	}
	seeOther(w, r, fmt.Sprintf("/ui/imports/%d/preview?%s#line-%d", im.ID, back.Encode(), line))
}

func (u *UI) conflict(w http.ResponseWriter, r *http.Request, s *session, id int64, text string) {
	u.render(w, r, http.StatusConflict, "message", page{Title: "Not possible", Tenant: s.Tenant, CSRF: u.csrf(s),
		D: message{Heading: "Not possible", Text: text, Link: "Back to the import", LinkTo: fmt.Sprintf("/ui/imports/%d", id)}})
}

// execute starts the real import of the dry run's file: of a corrected copy
// when records were corrected, written next to the original (which stays
// untouched) as <name>.corrected-<dry run ID>.csv.
func (u *UI) execute(w http.ResponseWriter, r *http.Request, s *session) {
	im, ok := u.lookup(w, r, s)
	if !ok {
		return
	}
	if !im.DryRun || im.State != lifecycle.ImportFinished {
		u.conflict(w, r, s, im.ID, "Only a finished dry run can be executed.")
		return
	}
	if err := u.d.Store.CreatePreview(r.Context(), s.Tenant, im.ID, nil); err != nil {
		u.fail(w, r, err)
		return
	}
	pv, err := u.d.Store.Preview(r.Context(), s.Tenant, im.ID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if pv.ExecutedID != 0 {
		seeOther(w, r, fmt.Sprintf("/ui/imports/%d", pv.ExecutedID))
		return
	}
	claimed, err := u.d.Store.ClaimExecution(r.Context(), s.Tenant, im.ID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if !claimed {
		u.conflict(w, r, s, im.ID, "The import is being executed already.")
		return
	}
	id, corrected, err := u.executeClaimed(r.Context(), s.Tenant, im.ID, pv)
	if err != nil {
		if rerr := u.d.Store.ReleaseExecution(context.WithoutCancel(r.Context()), s.Tenant, im.ID); rerr != nil {
			err = errors.Join(err, rerr)
		}
		u.fail(w, r, err)
		return
	}
	u.d.Log.Info("web import queued", zap.String("tenant", s.Tenant), zap.Int64("dry_run_id", im.ID), zap.Int64("import_id", id),
		zap.Bool("corrected", corrected != ""))
	seeOther(w, r, fmt.Sprintf("/ui/imports/%d?notice=executed", id))
}

func (u *UI) executeClaimed(ctx context.Context, tenant string, dryRun int64, pv postgres.Preview) (int64, string, error) {
	src, err := u.openSource(ctx, tenant, dryRun)
	if err != nil {
		return 0, "", err
	}
	if src == nil {
		return 0, "", fmt.Errorf("import %d has no plan", dryRun)
	}
	source, corrected := src.job.Source, ""
	if len(src.edits) > 0 {
		key := u.correctedKey(tenant, src.key, dryRun)
		if err := u.writeCorrected(ctx, src, key); err != nil {
			return 0, "", err
		}
		source = "s3://" + u.d.Files.Bucket() + "/" + key
		corrected = source
	}
	opts := lifecycle.Options{Delimiter: src.job.Options.Delimiter, Header: src.job.Options.Header, Notify: pv.Notify}
	if d := userfile.DelimiterName(src.job.Plan.Delimiter); d != "" {
		opts.Delimiter = d // as detected: the corrected file is read the same way
	}
	id, err := u.start(ctx, postgres.NewImport{Tenant: tenant, Source: source, RequestedBy: "web", Options: opts})
	if err != nil {
		return 0, "", err
	}
	return id, corrected, u.d.Store.SetExecuted(ctx, tenant, dryRun, id, corrected)
}

// correctedKey names the corrected copy of key: next to it, except for a
// file dropped under the events prefix, whose copy there would be announced
// as a new file and imported a second time; that one goes to the tenant's
// uploads.
func (u *UI) correctedKey(tenant, key string, dryRun int64) string {
	dir, base := path.Split(key)
	ext := path.Ext(base)
	if ext == "" {
		ext = ".csv"
	}
	name := fmt.Sprintf("%s.corrected-%d%s", strings.TrimSuffix(base, path.Ext(base)), dryRun, ext)
	if u.d.EventsPrefix == "" || strings.HasPrefix(key, u.d.EventsPrefix) {
		return intake.UploadKey(tenant, name)
	}
	return dir + name
}

// writeCorrected streams the original file to key with the corrected records
// in place of theirs.
func (u *UI) writeCorrected(ctx context.Context, src *source, key string) error {
	body, err := u.d.Files.OpenRange(ctx, src.key, 0, -1)
	if err != nil {
		return err
	}
	defer body.Close()
	edits := make([]postgres.Edit, 0, len(src.edits))
	for _, e := range src.edits {
		edits = append(edits, e)
	}
	slices.SortFunc(edits, func(a, b postgres.Edit) int { return int(a.Offset - b.Offset) })
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(copyCorrected(pw, body, src.opts.Delimiter, edits)) }()
	_, err = u.d.Files.Upload(ctx, key, pr, "text/csv")
	_ = pr.CloseWithError(errors.New("upload ended"))
	return err
}

// copyCorrected copies the file from r to w, replacing each edited record's
// bytes with its corrected fields (keeping its line break).
func copyCorrected(w io.Writer, r io.Reader, delimiter byte, edits []postgres.Edit) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var pos int64
	for _, e := range edits {
		if _, err := io.CopyN(w, br, e.Offset-pos); err != nil {
			return err
		}
		old := make([]byte, e.End-e.Offset)
		if _, err := io.ReadFull(br, old); err != nil {
			return err
		}
		var b bytes.Buffer
		cw := csv.NewWriter(&b)
		if delimiter != 0 {
			cw.Comma = rune(delimiter)
		}
		if err := cw.Write(e.Fields); err != nil {
			return err
		}
		cw.Flush()
		rec := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		switch {
		case bytes.HasSuffix(old, []byte("\r\n")):
			rec = append(rec, '\r', '\n')
		case bytes.HasSuffix(old, []byte("\n")):
			rec = append(rec, '\n')
		}
		if _, err := w.Write(rec); err != nil {
			return err
		}
		pos = e.End
	}
	_, err := io.Copy(w, br)
	return err
}
