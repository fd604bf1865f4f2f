// Package csvfile reads the CSV dialect of user files: ',' or ';' (or detected),
// RFC 4180 quoting that tolerates spaces around quotes, trimmed values, CRLF or LF,
// blank lines, a UTF-8 BOM, per-record UTF-8 and size checks, and resynchronisation
// after an unterminated quote.
//
// Line breaks are LF and CRLF. A lone CR (one not followed by LF) is no line
// break: it is data, kept in the value, quoted or not, as encoding/csv keeps
// it. Two exceptions: a CR that ends the input ends the last line (a CRLF cut
// short, as encoding/csv reads it too), and a file whose start holds, outside
// quotes, lone CRs but no LF has classic Mac line ends, which would read as
// one long record: it is rejected as a whole with ErrCRLineEnds.
//
// A Reader streams from an io.Reader in constant memory: it holds one record (at
// most Options.MaxRecordBytes) and a read buffer of the same size. A bad record is
// data, not an error: it comes back with Record.Err set and reading goes on.
package csvfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Defaults of the limits the format sets.
const (
	DefaultMaxRecordBytes = 64 << 10
	DefaultMaxFieldChars  = 1024
	DefaultMaxFileBytes   = 512 << 20
)

// Record-level problems; a RecordError wraps one of them.
var (
	ErrUnterminatedQuote = errors.New(`a quoted field is never closed: add the missing closing quote (")`)
	ErrBareQuote         = errors.New(`a quote (") inside an unquoted field: enclose the whole field in quotes and double the quote ("")`)
	ErrTextAfterQuote    = errors.New(`text after a closing quote: enclose the whole field in quotes and double the quotes inside ("")`)
	ErrRecordTooLong     = errors.New("record is longer than the limit")
	ErrFieldTooLong      = errors.New("field is longer than the limit")
	ErrInvalidUTF8       = errors.New(`not valid UTF-8 (save the file as "CSV UTF-8")`)
	ErrNULByte           = errors.New(`contains a NUL byte, which no text has (save the file as "CSV UTF-8")`)
)

// File-level problems: Read returns them and the file is rejected as a whole.
var (
	ErrNoDelimiter  = errors.New(`cannot tell the delimiter: the first line has as many "," as ";" outside quotes; choose the delimiter (comma or semicolon) explicitly`)
	ErrFileTooLarge = errors.New("file is larger than the limit")
	ErrNotText      = errors.New(`the file is not UTF-8 text (it is UTF-16, or binary): save it as "CSV UTF-8"`)
	ErrCRLineEnds   = errors.New(`the file's lines end in a lone CR (classic Mac line ends), so its records cannot be told apart: save it as "CSV UTF-8" with Windows (CRLF) or Unix (LF) line ends`)
)

// FieldCountError says a record has another number of fields than expected.
type FieldCountError struct {
	Got, Want int
}

func (e *FieldCountError) Error() string {
	return fmt.Sprintf("the record has %d fields, want %d (leave a field empty rather than leaving it out)", e.Got, e.Want)
}

// RecordError is a problem with one record; the rest of the file is still read.
type RecordError struct {
	Line  int   // physical line where the record starts, 1-based
	Field int   // 0-based index of the offending field, or -1 for the record as a whole
	Limit int   // the limit exceeded, for ErrRecordTooLong and ErrFieldTooLong
	Err   error // ErrUnterminatedQuote, ErrBareQuote, ... or a *FieldCountError
}

func (e *RecordError) Error() string {
	switch {
	case errors.Is(e.Err, ErrRecordTooLong):
		return fmt.Sprintf("the record is longer than %d KiB", e.Limit>>10)
	case errors.Is(e.Err, ErrFieldTooLong):
		return fmt.Sprintf("longer than %d characters", e.Limit)
	}
	return e.Err.Error()
}

func (e *RecordError) Unwrap() error { return e.Err }

// Options configure a Reader. The zero value reads a whole file with the
// format's limits and detects the delimiter.
type Options struct {
	// Delimiter is ',' or ';'; 0 detects it from the first non-blank line.
	Delimiter byte
	// Fields is the number of fields every record must have; 0 accepts any.
	// It can also be set after the header with ExpectFields.
	Fields         int
	MaxRecordBytes int   // default DefaultMaxRecordBytes
	MaxFieldChars  int   // default DefaultMaxFieldChars
	MaxFileBytes   int64 // default DefaultMaxFileBytes; negative for no limit
	// StartLine and StartOffset position a reader that starts inside a file (a
	// byte range of it, or one record read again): the line number and byte
	// offset of its first byte. A BOM is only dropped at offset 0; CR-only
	// line ends are only looked for at the file's start (line 1, offset 0).
	StartLine   int
	StartOffset int64
}

// Record is one record of the file. Fields is valid until the next Read.
type Record struct {
	Line   int   // physical line where the record starts, 1-based
	Offset int64 // byte offset of its first byte
	End    int64 // byte offset just past its last line break
	// Fields holds the trimmed, unquoted values; nil when the record could not be
	// split into fields (a quoting error, a record over the size limit).
	Fields []string
	Err    *RecordError
}

// Reader reads records from a CSV stream.
type Reader struct {
	br    *bufio.Reader
	opts  Options
	comma byte
	sp    specials // finds comma, quote and line breaks

	line   int   // line number of the next line to read
	offset int64 // offset of the next byte to read

	// replay holds lines already read that must be parsed again after a
	// resynchronisation; replay[replayPos:] is still to be served.
	replay    []byte
	replayPos int

	raw      []byte // the current record's bytes as in the file
	rawBuf   []byte // raw's own storage once it spans lines
	rawOwned bool   // raw is in rawBuf, not in the read buffer
	fieldBuf []byte // unquoted, trimmed field values back to back
	bounds   []int  // start and end of each field in raw, or in fieldBuf (marked inBuf)
	fields   []string
	str      stringArena // backs the field strings

	pending    *Record // a good record found while resynchronising
	errRaw     []byte  // raw bytes of a resynchronised bad record
	long       []byte  // the start of a line over the size limit
	bomChecked bool
	crChecked  bool // the start of the file was checked for CR-only line ends
	err        error
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader, opts Options) *Reader {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if opts.MaxFieldChars <= 0 {
		opts.MaxFieldChars = DefaultMaxFieldChars
	}
	if opts.MaxFileBytes == 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.StartLine <= 0 {
		opts.StartLine = 1
	}
	rd := &Reader{
		// The buffer holds one whole line of the largest record allowed, so a
		// longer line is detected by ReadSlice's ErrBufferFull.
		br:         bufio.NewReaderSize(r, opts.MaxRecordBytes+2),
		opts:       opts,
		comma:      opts.Delimiter,
		line:       opts.StartLine,
		offset:     opts.StartOffset,
		bomChecked: opts.StartOffset != 0,
		crChecked:  opts.StartOffset != 0 || opts.StartLine > 1, // inside the file: its start was checked
	}
	if rd.comma != 0 {
		rd.sp = newSpecials(rd.comma)
	}
	return rd
}

// Delimiter returns the delimiter in use: the one given, or the one detected
// (0 before the first Read).
func (r *Reader) Delimiter() byte { return r.comma }

// ExpectFields sets how many fields every following record must have.
func (r *Reader) ExpectFields(n int) { r.opts.Fields = n }

// Raw returns the bytes of the record last read as they are in the file, line
// breaks included (at most the record size limit). Valid until the next Read.
func (r *Reader) Raw() []byte {
	if r.errRaw != nil {
		return r.errRaw
	}
	return r.raw
}

// Read returns the next record. At the end of the input it returns io.EOF. Any
// other error is a file-level problem (ErrNoDelimiter, ErrFileTooLarge,
// ErrNotText, ErrCRLineEnds) or an I/O error, after which the Reader is done.
func (r *Reader) Read() (Record, error) {
	r.errRaw = nil
	if r.pending != nil {
		rec := *r.pending
		r.pending = nil
		return rec, nil
	}
	if r.err != nil {
		return Record{}, r.err
	}
	rec, err := r.next()
	if err != nil {
		r.err = err
		return Record{}, err
	}
	if rec.Err != nil && quoteTrouble(rec.Err) && r.spansLines() {
		return r.resync(rec), nil
	}
	return rec, nil
}

// quoteTrouble reports whether a record error comes from a quote that may
// have run on over the following lines.
func quoteTrouble(e *RecordError) bool {
	return errors.Is(e.Err, ErrUnterminatedQuote) || errors.Is(e.Err, ErrBareQuote) ||
		errors.Is(e.Err, ErrTextAfterQuote) || errors.Is(e.Err, ErrRecordTooLong)
}

// unparsable reports whether a record error means the text could not be read
// as a record at all (as opposed to a record whose values break a limit).
func unparsable(e *RecordError) bool {
	var fc *FieldCountError
	return quoteTrouble(e) || errors.As(e.Err, &fc)
}

// spansLines reports whether the current raw record holds more than one line.
func (r *Reader) spansLines() bool {
	i := bytes.IndexByte(r.raw, '\n')
	return i >= 0 && i < len(r.raw)-1
}

// resync handles a record that went wrong after running over several lines: a
// quote left open has swallowed lines that belong to the records after it. The
// record is reported as an unterminated quote at its first line, and reading
// starts again at the line after it: lines that do not parse as a record belong
// to the bad one, the first that does continues the file.
func (r *Reader) resync(bad Record) Record {
	rec := bad // the record as it failed: its error says how to go on
	bad.Fields = nil
	bad.Err = &RecordError{Line: bad.Line, Field: -1, Err: ErrUnterminatedQuote}
	var errRaw []byte
	for {
		first := bytes.IndexByte(r.raw, '\n') + 1
		if first > 0 && first < len(r.raw) && !errors.Is(rec.Err.Err, ErrRecordTooLong) {
			errRaw = appendCapped(errRaw, r.raw[:first], r.opts.MaxRecordBytes)
			r.rewind(rec.Offset+int64(first), rec.Line+1, r.raw[first:])
		} else {
			errRaw = appendCapped(errRaw, r.raw, r.opts.MaxRecordBytes)
		}
		next, err := r.next()
		if err != nil {
			// The input ends (or fails) while skipping; the error comes next.
			r.err = err
			bad.End = r.offset
			break
		}
		if next.Err == nil || !unparsable(next.Err) {
			r.pending = &next
			bad.End = next.Offset
			break
		}
		rec = next
	}
	r.errRaw = errRaw
	return bad
}

// appendCapped appends b to dst without growing dst past limit bytes: the
// raw text of a bad record is kept for the error report, but a bad quote may
// be followed by any number of lines that belong to it.
func appendCapped(dst, b []byte, limit int) []byte {
	if room := limit - len(dst); room < len(b) {
		b = b[:max(room, 0)]
	}
	return append(dst, b...)
}

// rewind makes the reader serve rest (then the unread replay, then the stream)
// as what comes next in the file, at the given offset and line.
func (r *Reader) rewind(offset int64, line int, rest []byte) {
	next := make([]byte, 0, len(rest)+len(r.replay)-r.replayPos)
	next = append(next, rest...)
	next = append(next, r.replay[r.replayPos:]...)
	r.replay, r.replayPos = next, 0
	r.offset, r.line = offset, line
}

// readLine returns the next physical line, its line break included, from the
// replay buffer or the stream, and the number of bytes of the file it covers.
// The slice is valid until the next call. A line over the record size limit is
// cut to the limit (tooLong) and the rest of it is skipped.
func (r *Reader) readLine() (line []byte, n int64, tooLong bool, err error) {
	if r.replayPos < len(r.replay) {
		rest := r.replay[r.replayPos:]
		k := bytes.IndexByte(rest, '\n') + 1
		if k == 0 {
			k = len(rest)
		}
		r.replayPos += k
		return rest[:k], int64(k), false, nil
	}
	r.checkBOM()
	line, err = r.br.ReadSlice('\n')
	n = int64(len(line))
	if errors.Is(err, bufio.ErrBufferFull) {
		// Keep the start of the line: the reads below overwrite the buffer.
		r.long = append(r.long[:0], line[:r.opts.MaxRecordBytes]...)
		line = r.long
		tooLong = true
		for errors.Is(err, bufio.ErrBufferFull) {
			var more []byte
			more, err = r.br.ReadSlice('\n')
			n += int64(len(more))
		}
	}
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return line, n, tooLong, err
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// next reads one record, skipping blank lines.
func (r *Reader) next() (Record, error) {
	if !r.crChecked {
		// Before the delimiter is detected: in a file that reads as one line,
		// the count of delimiters says nothing.
		r.crChecked = true
		if r.crLineEnds() {
			return Record{}, ErrCRLineEnds
		}
	}
	if r.comma == 0 {
		if err := r.detect(); err != nil {
			return Record{}, err
		}
	}
	for {
		line, n, tooLong, err := r.readLine()
		if err != nil {
			return Record{}, err
		}
		lineNo, start := r.line, r.offset
		r.line++
		r.offset += n
		if r.opts.MaxFileBytes > 0 && r.offset > r.opts.MaxFileBytes {
			return Record{}, fmt.Errorf("%w of %d MiB", ErrFileTooLarge, r.opts.MaxFileBytes>>20)
		}
		// The record aliases the read buffer until it needs a second line:
		// most records are one line, and copying each costs more than parsing.
		r.raw, r.rawOwned = line[:len(line):len(line)], false
		if tooLong {
			return Record{Line: lineNo, Offset: start, End: r.offset, Err: &RecordError{
				Line: lineNo, Field: -1, Limit: r.opts.MaxRecordBytes, Err: ErrRecordTooLong,
			}}, nil
		}
		if isBlank(line) {
			continue
		}
		return r.parse(lineNo, start), nil
	}
}

func isBlank(line []byte) bool {
	for _, c := range line {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// detect decides the delimiter from the start of the file, looked at in the
// read buffer without consuming it: the more frequent of ',' and ';' outside
// quotes on the first non-blank line wins. A quote left open at the end of that
// line takes the following lines in, as far as the buffer reaches.
func (r *Reader) detect() error {
	r.checkBOM()
	if head, _ := r.br.Peek(2); bytes.Equal(head, []byte{0xFF, 0xFE}) || bytes.Equal(head, []byte{0xFE, 0xFF}) {
		return ErrNotText // a UTF-16 byte order mark
	}
	var buf []byte
	for {
		var err error
		buf, err = r.br.Peek(r.br.Size())
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
		// Consume blank lines: they are no evidence, and a file may have more
		// of them than the buffer holds.
		blank := 0
		for {
			i := bytes.IndexByte(buf[blank:], '\n')
			if i < 0 || !isBlank(buf[blank:blank+i+1]) {
				break
			}
			blank += i + 1
			r.line++
		}
		if blank == 0 {
			break
		}
		_, _ = r.br.Discard(blank)
		r.offset += int64(blank)
	}
	if isBlank(buf) {
		return nil // no record at all: nothing to decide
	}
	firstEnd := bytes.IndexByte(buf, '\n')
	if firstEnd < 0 {
		firstEnd = len(buf)
	}
	if bytes.IndexByte(buf, 0) >= 0 {
		return ErrNotText // NUL bytes: UTF-16 without a mark, or not text at all
	}
	var commas, semis int
	quoted := false
scan:
	for _, c := range buf {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ',':
			commas++
		case c == ';':
			semis++
		case c == '\n':
			break scan // the first record ends here
		}
	}
	if quoted {
		// The quote is never closed: the first line, quotes ignored, is the
		// best evidence left. The record itself will be reported.
		commas = bytes.Count(buf[:firstEnd], []byte{','})
		semis = bytes.Count(buf[:firstEnd], []byte{';'})
	}
	switch {
	case commas > semis:
		r.comma = ','
	case semis > commas:
		r.comma = ';'
	default:
		return ErrNoDelimiter
	}
	r.sp = newSpecials(r.comma)
	return nil
}

// crLineEnds reports whether the file, at its start, has CR-only line ends:
// the read buffer (the record size limit, or the whole file) holds, outside
// quotes, no LF but a lone CR before its last byte, and text that is not
// blank. LFs inside quotes do not count: old Mac Excel writes a line break in
// a cell (a list of roles) as LF, its line ends as CR. Looked at once per
// file, in the buffer the first line is read into anyway: a file without CR
// costs one IndexByte, one with CRLF line ends is read to its first line end.
// A CR that ends the input is a line end cut short; a file with LF line ends
// reads its lone CRs as data; NUL bytes are ErrNotText's or the record's.
func (r *Reader) crLineEnds() bool {
	r.checkBOM()
	buf, _ := r.br.Peek(r.br.Size())
	if bytes.IndexByte(buf, '\r') < 0 {
		return false
	}
	quoted, lone := false, false
	for i, c := range buf {
		switch {
		case c == '"':
			quoted = !quoted // a doubled quote toggles twice
		case quoted:
		case c == '\n':
			return false
		case c == '\r' && i+1 < len(buf) && buf[i+1] != '\n':
			lone = true
		}
	}
	return lone && !isBlank(buf) && bytes.IndexByte(buf, 0) < 0
}

// checkBOM drops a UTF-8 byte order mark at the start of the file.
func (r *Reader) checkBOM() {
	if r.bomChecked {
		return
	}
	r.bomChecked = true
	if b, _ := r.br.Peek(len(bom)); bytes.Equal(b, bom) {
		_, _ = r.br.Discard(len(bom))
		r.offset += int64(len(bom))
	}
}

// own moves the raw record out of the read buffer it may alias: call it before
// reading another line, which may overwrite that buffer.
func (r *Reader) own() {
	if !r.rawOwned {
		r.raw = append(r.rawBuf[:0], r.raw...)
		r.rawBuf, r.rawOwned = r.raw, true
	}
}

// extend appends b to the raw record, which must be owned.
func (r *Reader) extend(b []byte) {
	r.raw = append(r.raw, b...)
	r.rawBuf = r.raw
}

// inBuf marks a field bound that points into fieldBuf rather than the raw
// record.
const inBuf = 1 << 40

// parse splits the record that starts with the line in r.raw, reading further
// lines while a quoted field is open. Fields are bounds into the raw record;
// only a quoted field with a doubled quote or a CRLF inside is copied out (to
// fieldBuf) to be unescaped.
func (r *Reader) parse(lineNo int, offset int64) Record {
	rec := Record{Line: lineNo, Offset: offset}
	r.sp.reset()
	if bytes.IndexByte(r.raw, '"') < 0 {
		return r.parseUnquoted(rec)
	}
	r.fieldBuf = r.fieldBuf[:0]
	// Locals, not fields of r, in the loop: the compiler keeps them in
	// registers instead of reloading them after every store.
	raw, comma, bounds := r.raw, r.comma, r.bounds[:0]
	fail := func(field int, err error) Record {
		r.bounds = bounds
		rec.End = r.offset
		rec.Err = &RecordError{Line: lineNo, Field: field, Err: err}
		if errors.Is(err, ErrRecordTooLong) {
			rec.Err.Limit = r.opts.MaxRecordBytes
		}
		return rec
	}
	pos := 0
	for field := 0; ; field++ {
		// Spaces before an opening quote are allowed and dropped.
		for pos < len(raw) && (raw[pos] == ' ' || raw[pos] == '\t') {
			pos++
		}
		var end int // where the delimiter or line break ending the field is
		if pos < len(raw) && raw[pos] == '"' {
			pos++
			open, clean := pos, true
			for {
				i := bytes.IndexByte(raw[pos:], '"')
				if i < 0 {
					// The field goes on past this line: take the next one in.
					pos = len(raw)
					clean = clean && !bytes.HasSuffix(raw, []byte("\r\n"))
					r.own()
					line, n, tooLong, err := r.readLine()
					if err != nil {
						return fail(-1, ErrUnterminatedQuote)
					}
					r.line++
					r.offset += n
					if tooLong {
						// Not resynchronised: the overlong line is not kept to read again.
						r.extend([]byte{'\n'})
						return fail(-1, ErrRecordTooLong)
					}
					r.extend(line)
					raw = r.raw
					if len(raw) > r.opts.MaxRecordBytes {
						return fail(-1, ErrUnterminatedQuote)
					}
					continue
				}
				pos += i + 1
				if pos < len(raw) && raw[pos] == '"' {
					clean = false
					pos++
					continue
				}
				break
			}
			s, e := open, pos-1
			if clean {
				s, e = trimBounds(raw, s, e)
			} else {
				s, e = r.unescape(raw[s:e])
			}
			bounds = append(bounds, s, e)
			// Spaces after a closing quote are allowed and dropped.
			for pos < len(raw) && (raw[pos] == ' ' || raw[pos] == '\t') {
				pos++
			}
			end = pos
			if !atFieldEnd(raw, end, comma) {
				return fail(field, ErrTextAfterQuote)
			}
		} else {
			end = r.sp.next(raw, pos)
			if end < len(raw) && raw[end] == '"' {
				return fail(field, ErrBareQuote)
			}
			e := end
			if (e == len(raw) || raw[e] == '\n') && e > pos && raw[e-1] == '\r' {
				e-- // CRLF, or a CR ending the input
			}
			s, e := trimBounds(raw, pos, e)
			bounds = append(bounds, s, e)
		}
		if end < len(raw) && raw[end] == comma {
			pos = end + 1
			continue
		}
		break
	}
	r.bounds = bounds
	rec.End = r.offset
	return r.finish(rec, r.str.of(raw))
}

// unescape copies a quoted field's content to fieldBuf, turning "" into " and
// CRLF into LF (a quoted line break reads the same whatever the file's line
// endings), and returns its trimmed bounds there, marked inBuf.
func (r *Reader) unescape(b []byte) (int, int) {
	start := len(r.fieldBuf)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"' && i+1 < len(b) && b[i+1] == '"':
			i++
		case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
			continue
		}
		r.fieldBuf = append(r.fieldBuf, b[i])
	}
	s, e := trimBounds(r.fieldBuf, start, len(r.fieldBuf))
	return s + inBuf, e + inBuf
}

// parseUnquoted splits a one-line record without quotes: the fields are
// slices of the line itself, with no copy.
func (r *Reader) parseUnquoted(rec Record) Record {
	r.fieldBuf = r.fieldBuf[:0]
	line, bounds := r.raw, r.bounds[:0]
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n > 1 && line[n-2] == '\r' {
			line = line[:n-2]
		}
	} else if n > 0 && line[n-1] == '\r' {
		// Only the input's last line has no LF: a CR ending it ends the line,
		// as in a quoted record (parse) and in encoding/csv.
		line = line[:n-1]
	}
	start := 0
	for {
		i := r.sp.next(line, start)
		s, e := trimBounds(line, start, i)
		bounds = append(bounds, s, e)
		if i == len(line) {
			break
		}
		start = i + 1
	}
	r.bounds = bounds
	rec.End = r.offset
	return r.finish(rec, r.str.of(line))
}

// finish turns the parsed fields, bounds into all, into strings (one
// allocation for the record) and applies the record-level checks.
func (r *Reader) finish(rec Record, all string) Record {
	if !validUTF8(r.raw) {
		rec.Err = &RecordError{Line: rec.Line, Field: -1, Err: ErrInvalidUTF8}
	} else if bytes.IndexByte(r.raw, 0) >= 0 {
		// Valid UTF-8, but PostgreSQL stores no NUL in text: caught here, the
		// record is rejected with a reason, by validate as by the import.
		rec.Err = &RecordError{Line: rec.Line, Field: -1, Err: ErrNULByte}
	}
	n := len(r.bounds) / 2
	if cap(r.fields) < n {
		r.fields = make([]string, n)
	}
	r.fields = r.fields[:n]
	var unescaped string
	if len(r.fieldBuf) > 0 {
		unescaped = r.str.of(r.fieldBuf)
	}
	for i := range n {
		s, e := r.bounds[2*i], r.bounds[2*i+1]
		if s >= inBuf {
			r.fields[i] = unescaped[s-inBuf : e-inBuf]
		} else {
			r.fields[i] = all[s:e]
		}
		if rec.Err == nil && e-s > r.opts.MaxFieldChars && utf8.RuneCountInString(r.fields[i]) > r.opts.MaxFieldChars {
			rec.Err = &RecordError{Line: rec.Line, Field: i, Limit: r.opts.MaxFieldChars, Err: ErrFieldTooLong}
		}
	}
	rec.Fields = r.fields
	if rec.Err == nil && r.opts.Fields > 0 && n != r.opts.Fields {
		rec.Err = &RecordError{Line: rec.Line, Field: -1, Err: &FieldCountError{Got: n, Want: r.opts.Fields}}
	}
	return rec
}

// atFieldEnd reports whether position i of raw ends a field: the delimiter,
// a line break or the end of the input.
func atFieldEnd(raw []byte, i int, comma byte) bool {
	if i >= len(raw) {
		return true
	}
	switch raw[i] {
	case comma, '\n':
		return true
	case '\r':
		return i+1 == len(raw) || raw[i+1] == '\n'
	}
	return false
}

// trimBounds narrows [s, e) of b to exclude spaces and tabs at both ends.
func trimBounds(b []byte, s, e int) (int, int) {
	for s < e && (b[s] == ' ' || b[s] == '\t') {
		s++
	}
	for e > s && (b[e-1] == ' ' || b[e-1] == '\t') {
		e--
	}
	return s, e
}
