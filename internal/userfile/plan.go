package userfile

import (
	"context"
	"errors"
	"io"

	"github.com/userimport/userimport/internal/userrow"
)

// Plan is what reading a whole file once yields for the queue's planner: how
// to read it again in ranges, what only the whole file shows, and its report.
type Plan struct {
	Report
	Delimiter byte
	Columns   []userrow.Column // the layout (Layout.Columns); nil for a positional file
	Chunks    []Chunk
	// Rejected are the records the whole-file checks rejected (a repeated
	// Login ID), by line: a range does not see the rest of the file.
	Rejected map[int]userrow.Problem
}

// Chunk is a byte range of the file holding consecutive records.
type Chunk struct {
	Seq       int
	Offset    int64
	Length    int64
	FirstLine int
	Records   int
}

// DefaultChunkSize is the records in a chunk: applied in one transaction,
// by a worker (CHUNK_SIZE) or by the in-process importer.
const DefaultChunkSize = 2000

// PlanFile reads a whole file once and cuts it into chunks of about size
// records. A file rejected as a whole is in the report's FileError, not an
// error; errors are I/O errors and cancellation.
func PlanFile(ctx context.Context, r io.Reader, opts Options, size int) (Plan, error) {
	p := Plan{Report: NewReport(), Rejected: map[int]userrow.Problem{}}
	rd := NewReader(r, opts)
	defer rd.Close()
	var c Chunk
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
			p.End(rd, err)
			return p, nil
		}
		p.Count(rec, true)
		if rec.fileWide != nil {
			p.Rejected[rec.Line] = *rec.fileWide
		}
		if c.Records == 0 {
			c = Chunk{Seq: len(p.Chunks), Offset: rec.Offset, FirstLine: rec.Line}
		}
		c.Records++
		c.Length = rec.End - c.Offset
		if c.Records == size {
			p.Chunks = append(p.Chunks, c)
			c = Chunk{}
		}
	}
	if c.Records > 0 {
		p.Chunks = append(p.Chunks, c)
	}
	p.End(rd, nil)
	p.Delimiter = rd.Delimiter()
	if l := rd.Layout(); l != nil {
		p.Columns = l.Columns()
	}
	return p, nil
}

// RangeOptions returns the options to read chunk c of the planned file: base
// (roles, limits) with the plan's delimiter, layout and rejections.
func (p *Plan) RangeOptions(base Options, c Chunk) Options {
	base.Delimiter = p.Delimiter
	base.Header = userrow.HeaderNone
	base.Range = &Range{Columns: p.Columns, StartLine: c.FirstLine, StartOffset: c.Offset, Rejected: p.Rejected}
	return base
}
