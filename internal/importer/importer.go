// Package importer runs a whole import synchronously, in this process: the
// file is read and validated by userfile, cut into chunks and applied by the
// store's engine, exactly as the queue's workers do chunk by chunk. It serves
// importctl import --local, small jobs and tests.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// DefaultChunkSize is the number of records applied in one transaction.
const DefaultChunkSize = 2000

// Options configure an import.
type Options struct {
	Tenant    string
	Source    string // what to call the file in the import's record
	File      userfile.Options
	ChunkSize int // records per chunk; 0: DefaultChunkSize
	Defaults  userrow.Defaults
	// Progress, when set, is called after each chunk with the records done.
	Progress func(records int)
}

// Problem is an error or warning about one record.
type Problem struct {
	Line    int    `json:"line"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

// Summary is the outcome of an import.
type Summary struct {
	ImportID  int64     `json:"import_id"`
	Records   int       `json:"records"`
	Valid     int       `json:"valid"`
	Invalid   int       `json:"invalid"`
	Delimiter string    `json:"delimiter"`
	Header    bool      `json:"header"`
	Errors    []Problem `json:"errors"`
	Warnings  []Problem `json:"warnings"`
	FileError *string   `json:"file_error"`
	Created   int       `json:"created"`
	Updated   int       `json:"updated"`
	Unchanged int       `json:"unchanged"`
	Rejected  int       `json:"rejected"`
}

// Local imports the file r for opts.Tenant. A file rejected as a whole is
// reported in Summary.FileError, not as an error; errors are I/O and store
// failures.
func Local(ctx context.Context, store *postgres.Store, r io.Reader, opts Options) (Summary, error) {
	sum := Summary{Errors: []Problem{}, Warnings: []Problem{}}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	id, err := store.CreateImport(ctx, postgres.NewImport{
		Tenant: opts.Tenant, Kind: "local", Source: opts.Source,
		Options: map[string]any{"delimiter": userfile.DelimiterName(opts.File.Delimiter), "header": opts.File.Header.String()},
	})
	if err != nil {
		return sum, err
	}
	sum.ImportID = id
	roles, err := store.Roles(ctx, opts.Tenant)
	if err != nil {
		return sum, err
	}
	fileOpts := opts.File
	fileOpts.Roles = roles
	fr := userfile.NewReader(r, fileOpts)
	defer fr.Close()

	var (
		chunk []postgres.Record
		spec  postgres.ChunkSpec
	)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := store.AddChunks(ctx, opts.Tenant, id, []postgres.ChunkSpec{spec}); err != nil {
			return err
		}
		out, err := store.ApplyChunk(ctx, postgres.Chunk{Tenant: opts.Tenant, ImportID: id, Seq: spec.Seq}, chunk,
			postgres.ApplyOptions{Defaults: opts.Defaults})
		if err != nil {
			return fmt.Errorf("apply chunk %d: %w", spec.Seq, err)
		}
		sum.Created += out.Created
		sum.Updated += out.Updated
		sum.Unchanged += out.Unchanged
		sum.Rejected += out.Rejected
		if opts.Progress != nil {
			opts.Progress(sum.Records)
		}
		chunk = chunk[:0]
		spec = postgres.ChunkSpec{Seq: spec.Seq + 1}
		return nil
	}
	for {
		rec, err := fr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !userfile.IsRejection(err) {
				return sum, err
			}
			msg := err.Error()
			sum.FileError = &msg
			sum.Delimiter, sum.Header = userfile.DelimiterName(fr.Delimiter()), fr.Header()
			return sum, store.RejectImport(ctx, opts.Tenant, id, msg)
		}
		sum.Records++
		if rec.Valid() {
			sum.Valid++
		} else {
			sum.Invalid++
		}
		for _, w := range rec.Warnings {
			sum.Warnings = append(sum.Warnings, Problem{Line: rec.Line, Column: w.Column.String(), Message: w.Message})
		}
		if len(chunk) == 0 {
			spec.Offset, spec.FirstLine = rec.Offset, rec.Line
		}
		spec.Length, spec.Records = rec.End-spec.Offset, spec.Records+1
		// The record's raw bytes live in a buffer the reader reuses.
		chunk = append(chunk, postgres.Record{Line: rec.Line, User: rec.User, Errors: rec.Errors, Raw: append([]byte(nil), rec.Raw()...)})
		if len(chunk) == opts.ChunkSize {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
	if err := flush(); err != nil {
		return sum, err
	}
	sum.Delimiter, sum.Header = userfile.DelimiterName(fr.Delimiter()), fr.Header()
	if err := store.Rejects(ctx, opts.Tenant, id, func(r postgres.Reject) error {
		for _, e := range r.Errors {
			sum.Errors = append(sum.Errors, Problem{Line: r.Line, Column: e.Column, Message: e.Message})
		}
		return nil
	}); err != nil {
		return sum, err
	}
	_, err = store.FinishImport(ctx, opts.Tenant, id, len(sum.Warnings))
	return sum, err
}
