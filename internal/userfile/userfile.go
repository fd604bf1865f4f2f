// Package userfile reads a whole user file: the csvfile dialect, the header
// row, and every record validated by userrow, with the checks that span the
// file (duplicate Login IDs, conflicting extension settings).
//
// importctl validate, the synchronous import and the queue's planner all read
// files through it, so a file means the same thing on every path.
//
// Reading is a pipeline: one goroutine splits records, others validate them in
// batches, and Read hands them out in file order after the whole-file checks.
// Parsing and validating a large file so use more than one core, and memory
// stays bounded by the batches in flight.
package userfile

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/userrow"
)

// Options configure a Reader. The zero value detects the delimiter and the
// header and does not check role names.
type Options struct {
	Delimiter    byte // ',' or ';'; 0 detects it
	Header       userrow.HeaderMode
	Roles        []string // the tenant's role catalog; nil: not checked
	MaxFileBytes int64    // 0: csvfile.DefaultMaxFileBytes
	// SizeHint is the file's size in bytes when known: the whole-file checks
	// size their tables from it instead of growing them.
	SizeHint int64
	// Workers validate batches of records in parallel; 0 means GOMAXPROCS.
	Workers int
	// Range, when set, reads one range of a file that was planned (see
	// PlanFile) instead of a whole file.
	Range *Range
}

// Range is a byte range of a planned file, starting at a record. The layout
// and the delimiter (Options.Delimiter) come from the plan; no header row is
// read, and the whole-file checks are not run again: their rejections come
// with the range.
type Range struct {
	Columns     []userrow.Column // the plan's Layout.Columns()
	StartLine   int
	StartOffset int64
	// Rejected are the records the whole-file checks rejected, by line.
	Rejected map[int]userrow.Problem
}

// ParseDelimiter reads an option value: auto, comma or semicolon.
func ParseDelimiter(s string) (byte, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return 0, nil
	case "comma", ",":
		return ',', nil
	case "semicolon", ";":
		return ';', nil
	}
	return 0, fmt.Errorf("delimiter %q: use auto, comma or semicolon", s)
}

// DelimiterName names a delimiter as the options do.
func DelimiterName(d byte) string {
	switch d {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	}
	return ""
}

// Whole-file rejections besides the reader's and the header's.
var (
	ErrEmpty      = errors.New("the file is empty: it has no records")
	ErrHeaderOnly = errors.New("the file has a header row but no records")
)

// IsRejection reports whether err rejects the file as a whole because of its
// content (as opposed to an I/O error): it goes into the import's result.
func IsRejection(err error) bool {
	return errors.Is(err, ErrEmpty) || errors.Is(err, ErrHeaderOnly) ||
		errors.Is(err, userrow.ErrHeader) || errors.Is(err, csvfile.ErrNoDelimiter) ||
		errors.Is(err, csvfile.ErrFileTooLarge) || errors.Is(err, csvfile.ErrNotText) ||
		errors.Is(err, csvfile.ErrCRLineEnds)
}

// Record is one data record of the file.
type Record struct {
	Line     int          // physical line where it starts, 1-based (the header is line 1)
	Offset   int64        // byte range in the file
	End      int64        //
	Fields   []string     // as read (trimmed, unquoted); nil when unreadable
	User     userrow.User // meaningful when Errors is empty
	Errors   []userrow.Problem
	Warnings []userrow.Problem
	raw      []byte
	// fileWide is the problem the whole-file checks found, if any.
	fileWide *userrow.Problem
	// login is the record's Login ID when it can be read, valid record or
	// not (set when reading a whole file, not a range).
	login string
}

// Valid reports whether the record can be imported.
func (r *Record) Valid() bool { return len(r.Errors) == 0 }

// Login returns the record's Login ID when it could be read, valid record or
// not; "" when reading a range.
func (r *Record) Login() string { return r.login }

// Raw returns the record's bytes as they are in the file (for a record over
// the size limit, the start of it).
func (r *Record) Raw() []byte { return r.raw }

// batchSize records travel together: enough to make the hand-offs between
// goroutines cheap, few enough to keep memory small.
const batchSize = 256

// batch is a run of consecutive records, read by the splitter, then validated
// by a worker; done is closed when it is ready for Read.
type batch struct {
	recs   []Record
	fields []string // the records' Fields, back to back
	raw    []byte   // the records' raw bytes, back to back
	err    error    // what ended the file after these records (io.EOF included)
	done   chan struct{}
}

// Reader reads the data records of a user file. Close it when done, also
// after an error, to stop the goroutines behind it.
type Reader struct {
	src      io.Reader
	opts     Options
	validate *userrow.Validator
	check    *userrow.FileCheck

	// Set by the splitter before it sends the first batch.
	csv    *csvfile.Reader
	layout *userrow.Layout

	started bool
	ordered chan *batch   // batches in file order
	free    chan *batch   // batches Read is done with, to be filled again
	stop    chan struct{} // closed by Close
	once    sync.Once
	cur     *batch
	next    int
	err     error
}

// NewReader returns a Reader of the file r.
func NewReader(r io.Reader, opts Options) *Reader {
	return &Reader{
		src:      r,
		opts:     opts,
		validate: userrow.NewValidator(userrow.Options{Roles: opts.Roles}),
		stop:     make(chan struct{}),
	}
}

// sizeCheck makes the whole-file checks, sized from the first batch: the
// file's size over its records' average size, and their average number of
// extensions. Without a size hint, the tables start small and grow.
func (r *Reader) sizeCheck(first *batch) {
	var records, extensions int
	if n := len(first.recs); n > 0 && r.opts.SizeHint > 0 {
		bytes := first.recs[n-1].End - first.recs[0].Offset
		phones := 0
		for i := range first.recs {
			phones += len(first.recs[i].User.Phones)
		}
		if bytes > 0 {
			records = int(r.opts.SizeHint * int64(n) / bytes)
			extensions = records * phones / n
		}
	}
	r.check = userrow.NewFileCheck(records, extensions)
}

// Delimiter returns the delimiter in use (0 before the first Read).
func (r *Reader) Delimiter() byte {
	if r.csv == nil || !r.ready() {
		return 0
	}
	return r.csv.Delimiter()
}

// Header reports whether the file has a header row (known after the first Read).
func (r *Reader) Header() bool { return r.ready() && r.layout != nil && r.layout.Header() }

// Layout returns how fields map to columns (nil before the first Read).
func (r *Reader) Layout() *userrow.Layout {
	if !r.ready() {
		return nil
	}
	return r.layout
}

// ready reports whether the splitter has published the file's layout, which
// it does before the first batch that Read receives.
func (r *Reader) ready() bool { return r.cur != nil || r.err != nil }

// Close stops the goroutines reading the file. It does not close the source.
func (r *Reader) Close() {
	r.once.Do(func() { close(r.stop) })
}

// Read returns the next data record, or io.EOF after the last. Any other error
// rejects the file as a whole (IsRejection: a bad header, no records, no
// delimiter, too large, not text, CR line ends) or is an I/O error. The record is valid until the next
// Read.
func (r *Reader) Read() (*Record, error) {
	if !r.started {
		r.start()
	}
	for r.cur == nil || r.next == len(r.cur.recs) {
		if r.err != nil {
			return nil, r.err
		}
		if r.cur != nil && r.cur.err != nil {
			r.err = r.cur.err
			return nil, r.err
		}
		b, ok := <-r.ordered
		if !ok {
			r.err = io.EOF
			return nil, r.err
		}
		<-b.done
		if r.check == nil && r.opts.Range == nil {
			r.sizeCheck(b)
		}
		if r.cur != nil {
			select { // its records were valid until this Read
			case r.free <- r.cur:
			default:
			}
		}
		r.cur, r.next = b, 0
	}
	rec := &r.cur.recs[r.next]
	r.next++
	r.crossCheck(rec)
	return rec, nil
}

// crossCheck applies the whole-file checks, in file order; for a range, the
// plan's rejections.
func (r *Reader) crossCheck(rec *Record) {
	if rg := r.opts.Range; rg != nil {
		if p, ok := rg.Rejected[rec.Line]; ok {
			rec.Errors = append(rec.Errors, p)
			rec.fileWide = &p
		}
		return
	}
	if rec.Fields == nil || hasColumn(rec.Errors, userrow.LoginID) {
		return
	}
	login := rec.User.LoginID
	if !rec.Valid() && login == "" {
		// Rejected as a whole, or before its Login ID was read: register the
		// ID when it can be read, so that a later record with it is still a
		// duplicate.
		if i := r.layout.FieldOf(userrow.LoginID); i >= 0 && i < len(rec.Fields) && userrow.ValidLoginID(rec.Fields[i]) {
			login = rec.Fields[i]
		}
	}
	if login == "" {
		return
	}
	rec.login = login
	if p := r.check.Login(rec.Line, login); p != nil {
		rec.Errors = append(rec.Errors, *p)
		rec.fileWide = p
	}
	if rec.Valid() {
		rec.Warnings = r.check.Extensions(&rec.User)
	}
}

// start launches the splitter and the validating workers.
func (r *Reader) start() {
	r.started = true
	workers := r.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Enough batches in flight to keep every worker busy, no more.
	r.ordered = make(chan *batch, 2*workers)
	r.free = make(chan *batch, 2*workers+2)
	work := make(chan *batch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range work {
				r.validateBatch(b)
				close(b.done)
			}
		})
	}
	go func() {
		defer close(r.ordered)
		r.split(work)
		close(work) // before waiting: the workers end when work is closed
		wg.Wait()
	}()
}

// split reads the file into batches and hands each to the workers and, in
// order, to Read.
func (r *Reader) split(work chan<- *batch) {
	send := func(b *batch) bool {
		select {
		case r.ordered <- b:
		case <-r.stop:
			return false
		}
		select {
		case work <- b:
		case <-r.stop:
			close(b.done) // Read is gone; nobody waits for it
			return false
		}
		return true
	}
	csvOpts := csvfile.Options{Delimiter: r.opts.Delimiter, MaxFileBytes: r.opts.MaxFileBytes}
	if rg := r.opts.Range; rg != nil {
		r.layout = userrow.LayoutOf(rg.Columns)
		csvOpts.StartLine, csvOpts.StartOffset, csvOpts.Fields = rg.StartLine, rg.StartOffset, r.layout.Fields()
	}
	r.csv = csvfile.NewReader(r.src, csvOpts)
	b := r.newBatch()
	var first *csvfile.Record
	if r.layout == nil {
		var err error
		if first, err = r.readLayout(); err != nil {
			b.err = err
			send(b)
			return
		}
	}
	if first != nil {
		r.add(b, *first)
	}
	records := len(b.recs)
	for {
		rec, err := r.csv.Read()
		if err != nil {
			if errors.Is(err, io.EOF) && records == 0 && r.opts.Range == nil {
				err = ErrEmpty
				if r.layout.Header() {
					err = ErrHeaderOnly
				}
			}
			b.err = err
			send(b)
			return
		}
		records++
		r.add(b, rec)
		if len(b.recs) == batchSize {
			if !send(b) {
				return
			}
			b = r.newBatch()
		}
	}
}

// readLayout reads the first record and decides the layout from it. It
// returns the record when it is data rather than a header.
func (r *Reader) readLayout() (*csvfile.Record, error) {
	first, err := r.csv.Read()
	if errors.Is(err, io.EOF) {
		return nil, ErrEmpty
	}
	if err != nil {
		return nil, err
	}
	if first.Err != nil || first.Fields == nil {
		// Unreadable: it cannot be a header worth mapping; report it as data,
		// unless the options say the first row is a header.
		r.layout = userrow.Positional()
		r.csv.ExpectFields(r.layout.Fields())
		if r.opts.Header == userrow.HeaderSkip {
			return nil, nil
		}
		return &first, nil
	}
	layout, err := userrow.DetectLayout(first.Fields, r.opts.Header)
	if err != nil {
		return nil, err
	}
	r.layout = layout
	r.csv.ExpectFields(layout.Fields())
	if layout.Header() {
		return nil, nil
	}
	return &first, nil
}

// newBatch returns an empty batch, reusing one Read is done with: its arenas
// have grown to size, so a file is read with almost no allocation beyond the
// field strings.
func (r *Reader) newBatch() *batch {
	select {
	case b := <-r.free:
		clear(b.recs) // drop references to the old records' strings
		b.recs, b.fields, b.raw, b.err = b.recs[:0], b.fields[:0], b.raw[:0], nil
		b.done = make(chan struct{})
		return b
	default:
		return &batch{recs: make([]Record, 0, batchSize), done: make(chan struct{})}
	}
}

// add appends a record to the batch, copying what the csv reader reuses: the
// Fields slice and the raw bytes (the field strings themselves are immutable).
// Slices of the arenas stay valid when the arenas grow: appending never
// changes what earlier slices hold.
func (r *Reader) add(b *batch, rec csvfile.Record) {
	out := Record{Line: rec.Line, Offset: rec.Offset, End: rec.End}
	if rec.Fields != nil {
		start := len(b.fields)
		b.fields = append(b.fields, rec.Fields...)
		out.Fields = b.fields[start:len(b.fields):len(b.fields)]
	}
	raw := r.csv.Raw()
	start := len(b.raw)
	b.raw = append(b.raw, raw...)
	out.raw = b.raw[start:len(b.raw):len(b.raw)]
	if n := r.layout.Fields(); rec.Err == nil && len(rec.Fields) != n {
		// The reader checks this too, but only after the first record; a
		// record it read ahead while resynchronising is checked here.
		rec.Err = &csvfile.RecordError{Line: rec.Line, Field: -1, Err: &csvfile.FieldCountError{Got: len(rec.Fields), Want: n}}
	}
	if rec.Err != nil {
		out.Errors = []userrow.Problem{r.recordProblem(rec.Err)}
	}
	b.recs = append(b.recs, out)
}

// validateBatch validates the records the reader could split.
func (r *Reader) validateBatch(b *batch) {
	for i := range b.recs {
		rec := &b.recs[i]
		if len(rec.Errors) == 0 {
			rec.User, rec.Errors = r.validate.Validate(r.layout, rec.Fields)
		}
	}
}

// recordProblem turns a reader's record error into a Problem: a field over the
// size limit names its column; anything else concerns the record as a whole.
func (r *Reader) recordProblem(e *csvfile.RecordError) userrow.Problem {
	if errors.Is(e.Err, csvfile.ErrFieldTooLong) {
		return userrow.Problem{Column: r.layout.Column(e.Field), Message: e.Error()}
	}
	return userrow.Problem{Column: userrow.NoColumn, Message: e.Error()}
}

func hasColumn(probs []userrow.Problem, c userrow.Column) bool {
	for _, p := range probs {
		if p.Column == c {
			return true
		}
	}
	return false
}
