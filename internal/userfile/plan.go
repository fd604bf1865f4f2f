package userfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/userimport/userimport/internal/userrow"
)

// Plan is what reading a whole file once yields for the queue's planner: how
// to read it again in ranges (delimiter, layout), and its counts. It is the
// one shape of a plan: the worker stores it (MarshalJSON, versioned) and the
// chunks, finalize and the web pages read it back.
//
// A plan holds no per-record data, so its size does not grow with the file:
// chunks and the records the whole-file checks reject go to a PlanSink as
// they are found.
type Plan struct {
	Delimiter byte
	Header    bool
	Columns   []userrow.Column // the layout (Layout.Columns); nil for a positional file
	Records   int
	Invalid   int // records the reading itself rejected (chunks may reject more)
	Warnings  int
	Chunks    int
	// FileError is why the file was refused as a whole; "" when it was not.
	FileError string
}

// Chunk is a byte range of the file holding consecutive records, and the
// fingerprints of the Login IDs of its records (any record whose Login ID
// could be read, valid or not).
type Chunk struct {
	Seq       int
	Offset    int64
	Length    int64
	FirstLine int
	Records   int
	Logins    userrow.LoginSet
}

// PlanSink takes what planning finds as it goes, so that nothing of the
// file's size stays in memory.
type PlanSink interface {
	// Chunk takes each chunk, in order, when it is complete.
	Chunk(ctx context.Context, c Chunk) error
	// FileReject takes each record the whole-file checks reject (a repeated
	// Login ID), in line order.
	FileReject(ctx context.Context, line int, p userrow.Problem) error
}

// DefaultChunkSize is the records in a chunk: applied in one transaction,
// by a worker (CHUNK_SIZE) or by the in-process importer.
const DefaultChunkSize = 2000

// PlanFile reads a whole file once and cuts it into chunks of about size
// records, which it hands to sink. A file rejected as a whole is in
// Plan.FileError, not an error; errors are I/O errors, the sink's, and
// cancellation.
func PlanFile(ctx context.Context, r io.Reader, opts Options, size int, sink PlanSink) (Plan, error) {
	var p Plan
	rd := NewReader(r, opts)
	defer rd.Close()
	var (
		c      Chunk
		logins []uint64
	)
	flush := func() error {
		if c.Records == 0 {
			return nil
		}
		c.Logins = userrow.NewLoginSet(logins)
		p.Chunks++
		err := sink.Chunk(ctx, c)
		c, logins = Chunk{}, make([]uint64, 0, size)
		return err
	}
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return p, ctx.Err()
		}
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !IsRejection(err) {
				return p, err
			}
			p.FileError = err.Error()
			p.Delimiter, p.Header = rd.Delimiter(), rd.Header()
			return p, nil
		}
		p.Records++
		if !rec.Valid() {
			p.Invalid++
		}
		p.Warnings += len(rec.Warnings)
		if rec.fileWide != nil {
			if err := sink.FileReject(ctx, rec.Line, *rec.fileWide); err != nil {
				return p, err
			}
		}
		if c.Records == 0 {
			c = Chunk{Seq: p.Chunks, Offset: rec.Offset, FirstLine: rec.Line}
		}
		c.Records++
		c.Length = rec.End - c.Offset
		if rec.login != "" {
			logins = append(logins, userrow.LoginFingerprint(rec.login))
		}
		if c.Records == size {
			if err := flush(); err != nil {
				return p, err
			}
		}
	}
	if err := flush(); err != nil {
		return p, err
	}
	p.Delimiter, p.Header = rd.Delimiter(), rd.Header()
	if l := rd.Layout(); l != nil {
		p.Columns = l.Columns()
	}
	return p, nil
}

// Layout returns the file's column layout.
func (p *Plan) Layout() *userrow.Layout {
	if p.Columns == nil {
		return userrow.Positional()
	}
	return userrow.LayoutOf(p.Columns)
}

// RangeOptions returns the options to read chunk c of the planned file: base
// (roles, limits) with the plan's delimiter and layout, and the whole-file
// rejections of the chunk's lines (rejected, by line; nil for none).
func (p *Plan) RangeOptions(base Options, c Chunk, rejected map[int]userrow.Problem) Options {
	base.Delimiter = p.Delimiter
	base.Header = userrow.HeaderNone
	base.Range = &Range{Columns: p.Columns, StartLine: c.FirstLine, StartOffset: c.Offset, Rejected: rejected}
	return base
}

// planVersion is the version of the stored form; a reader refuses a newer
// one.
const planVersion = 1

type storedPlan struct {
	Version   int    `json:"v"`
	Delimiter string `json:"delimiter"`
	Header    bool   `json:"header"`
	Columns   []int  `json:"columns"` // null for a positional file
	Records   int    `json:"records"`
	Invalid   int    `json:"invalid"`
	Warnings  int    `json:"warnings"`
	Chunks    int    `json:"chunks"`
	FileError string `json:"file_error,omitempty"`
}

// MarshalJSON returns the stored form of the plan.
func (p Plan) MarshalJSON() ([]byte, error) {
	s := storedPlan{Version: planVersion, Delimiter: string(p.Delimiter), Header: p.Header, Records: p.Records,
		Invalid: p.Invalid, Warnings: p.Warnings, Chunks: p.Chunks, FileError: p.FileError}
	if p.Delimiter == 0 {
		s.Delimiter = ""
	}
	if p.Columns != nil {
		s.Columns = make([]int, len(p.Columns))
		for i, c := range p.Columns {
			s.Columns[i] = int(c)
		}
	}
	return json.Marshal(s)
}

// UnmarshalJSON reads the stored form, of this version or an earlier one.
func (p *Plan) UnmarshalJSON(b []byte) error {
	var s storedPlan
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if s.Version > planVersion {
		return fmt.Errorf("plan version %d is newer than this release's %d: run a newer worker", s.Version, planVersion)
	}
	*p = Plan{Header: s.Header, Records: s.Records, Invalid: s.Invalid, Warnings: s.Warnings, Chunks: s.Chunks, FileError: s.FileError}
	if s.Delimiter != "" {
		p.Delimiter = s.Delimiter[0]
	}
	if s.Columns != nil {
		p.Columns = make([]userrow.Column, len(s.Columns))
		for i, c := range s.Columns {
			if c < int(userrow.NoColumn) || c >= userrow.NumColumns {
				return fmt.Errorf("plan: column %d out of range", c)
			}
			p.Columns[i] = userrow.Column(c)
		}
	}
	return nil
}
