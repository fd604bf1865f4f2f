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
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// Defaults of Options.
const (
	DefaultChunkSize = userfile.DefaultChunkSize // records applied in one transaction
	DefaultAppliers  = 2
)

// Options configure an import.
type Options struct {
	Tenant    string
	Source    string // what to call the file in the import's record
	File      userfile.Options
	ChunkSize int // records per chunk; 0: DefaultChunkSize
	// Appliers apply chunks at once, as that many workers would, while the
	// file is still being read; 0: DefaultAppliers.
	Appliers int
	Defaults userrow.Defaults
	DryRun   bool // count what would happen; write no user
	// Progress, when set, is called after each chunk with the records done.
	Progress func(records int)
}

// Summary is the outcome of an import: the file's report (its errors are
// every rejected record's, the database's refusals included) and the counts.
type Summary struct {
	ImportID int64 `json:"import_id"`
	userfile.Report
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Rejected  int `json:"rejected"`
}

// Local imports the file r for opts.Tenant. A file rejected as a whole is
// reported in Summary.FileError, not as an error; errors are I/O and store
// failures. Chunks are applied while the file is read, so a file found too
// large only at its end (its size not known before) keeps what was applied;
// a file whose size is known (opts.File.SizeHint) is rejected before.
func Local(ctx context.Context, store *postgres.Store, r io.Reader, opts Options) (Summary, error) {
	sum := Summary{Report: userfile.NewReport()}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	in := intake.Intake{Store: store}
	im, _, err := in.Start(ctx, postgres.NewImport{
		Tenant: opts.Tenant, Kind: lifecycle.KindLocal, Source: opts.Source,
		Options: lifecycle.Options{Delimiter: userfile.DelimiterName(opts.File.Delimiter), Header: opts.File.Header.String(), DryRun: opts.DryRun},
	})
	if err != nil {
		return sum, err
	}
	id := im.ID
	sum.ImportID = id
	roles, err := store.Roles(ctx, opts.Tenant)
	if err != nil {
		return sum, err
	}
	fileOpts := opts.File
	fileOpts.Roles = roles
	fr := userfile.NewReader(r, fileOpts)
	defer fr.Close()

	limit := fileOpts.MaxFileBytes
	if limit == 0 {
		limit = csvfile.DefaultMaxFileBytes
	}
	if limit > 0 && opts.File.SizeHint > limit {
		tooLarge := fmt.Errorf("%w of %d MiB", csvfile.ErrFileTooLarge, limit>>20)
		sum.End(fr, tooLarge)
		return sum, store.RejectImport(ctx, opts.Tenant, id, *sum.FileError)
	}
	if opts.Appliers <= 0 {
		opts.Appliers = DefaultAppliers
	}
	// Chunks go to the appliers while the next ones are read; the whole-file
	// checks have already run on them, so their order does not matter.
	var (
		mu      sync.Mutex
		done    int
		g, gctx = errgroup.WithContext(ctx)
		chunks  = make(chan appliedChunk, opts.Appliers)
	)
	for range opts.Appliers {
		g.Go(func() error {
			for c := range chunks {
				if err := store.AddChunks(gctx, opts.Tenant, id, []userfile.Chunk{c.spec}); err != nil {
					return err
				}
				out, err := applyInOrder(gctx, store, postgres.Chunk{Tenant: opts.Tenant, ImportID: id, Seq: c.spec.Seq}, c.recs,
					postgres.ApplyOptions{Defaults: opts.Defaults, DryRun: opts.DryRun})
				if err != nil {
					return fmt.Errorf("apply chunk %d: %w", c.spec.Seq, err)
				}
				mu.Lock()
				sum.Created += out.Created
				sum.Updated += out.Updated
				sum.Unchanged += out.Unchanged
				sum.Rejected += out.Rejected
				done += c.spec.Records
				if opts.Progress != nil {
					opts.Progress(done)
				}
				mu.Unlock()
			}
			return nil
		})
	}
	chunked, readErr := read(gctx, fr, opts, &sum, chunks)
	close(chunks)
	if err := g.Wait(); err != nil {
		return sum, err
	}
	if readErr != nil {
		if !userfile.IsRejection(readErr) {
			return sum, readErr
		}
		sum.End(fr, readErr)
		return sum, store.RejectImport(ctx, opts.Tenant, id, *sum.FileError)
	}
	sum.End(fr, nil)
	plan := userfile.Plan{Delimiter: fr.Delimiter(), Header: fr.Header(), Records: sum.Records, Invalid: sum.Invalid,
		Warnings: len(sum.Warnings), Chunks: chunked}
	if l := fr.Layout(); l != nil {
		plan.Columns = l.Columns()
	}
	if err := store.SavePlan(ctx, opts.Tenant, id, plan); err != nil {
		return sum, err
	}
	if err := store.Rejects(ctx, opts.Tenant, id, func(r postgres.Reject) error {
		for _, e := range r.Errors {
			sum.Errors = append(sum.Errors, userfile.Problem{Line: r.Line, Column: e.Column, Message: e.Message})
		}
		return nil
	}); err != nil {
		return sum, err
	}
	finished, err := store.FinishImport(ctx, opts.Tenant, id, len(sum.Warnings))
	if err == nil && !finished {
		err = fmt.Errorf("import %d: some chunks are not recorded as applied; run the import again (unchanged records cost nothing)", id)
	}
	return sum, err
}

// applyInOrder applies a chunk, waiting while an earlier import of the
// tenant still writes some of its users (see postgres.ErrWait).
func applyInOrder(ctx context.Context, store *postgres.Store, c postgres.Chunk, recs []postgres.Record, opts postgres.ApplyOptions) (postgres.Outcome, error) {
	for {
		out, err := store.ApplyChunk(ctx, c, recs, opts)
		if !errors.Is(err, postgres.ErrWait) {
			return out, err
		}
		select {
		case <-time.After(waitPoll):
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

// waitPoll is how often a chunk that waits for an earlier import asks again.
const waitPoll = 200 * time.Millisecond

// appliedChunk is a chunk of records on its way to an applier.
type appliedChunk struct {
	spec userfile.Chunk
	recs []postgres.Record
}

// read reads the file into chunks and sends them to the appliers; it counts
// records and collects warnings into sum as it goes. It returns the number
// of chunks sent.
func read(ctx context.Context, fr *userfile.Reader, opts Options, sum *Summary, chunks chan<- appliedChunk) (int, error) {
	c := appliedChunk{}
	var (
		logins []uint64
		sent   int
	)
	send := func() error {
		if len(c.recs) == 0 {
			return nil
		}
		c.spec.Logins = userrow.NewLoginSet(logins)
		select {
		case chunks <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		sent++
		c, logins = appliedChunk{spec: userfile.Chunk{Seq: c.spec.Seq + 1}}, nil
		return nil
	}
	for {
		rec, err := fr.Read()
		if errors.Is(err, io.EOF) {
			return sent, send()
		}
		if err != nil {
			return sent, err
		}
		sum.Count(rec, false) // errors come from the store, with the database's refusals
		if len(c.recs) == 0 {
			c.recs = make([]postgres.Record, 0, opts.ChunkSize)
			c.spec.Offset, c.spec.FirstLine = rec.Offset, rec.Line
		}
		c.spec.Length, c.spec.Records = rec.End-c.spec.Offset, c.spec.Records+1
		if l := rec.Login(); l != "" {
			logins = append(logins, userrow.LoginFingerprint(l))
		}
		// The record's raw bytes live in a buffer the reader reuses.
		c.recs = append(c.recs, postgres.Record{Line: rec.Line, User: rec.User, Errors: rec.Errors, Raw: append([]byte(nil), rec.Raw()...)})
		if len(c.recs) == opts.ChunkSize {
			if err := send(); err != nil {
				return sent, err
			}
		}
	}
}
