package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/userfile"
)

// childOpts are a store child's arguments after the file.
type childOpts struct {
	tenant   string
	chunk    int // records per chunk (engine)
	appliers int // chunks applied at once (engine)
	rows     int // records to write (naive); 0: all
}

type storeMode func(ctx context.Context, store *postgres.Store, file string, o childOpts) (storeResult, error)

// storeModes are the store suite's modes that run in a child process.
var storeModes = map[string]storeMode{
	modeFresh: func(ctx context.Context, store *postgres.Store, file string, o childOpts) (storeResult, error) {
		return engineImport(ctx, store, file, o, func(out postgres.Outcome, n int) error {
			if out.Created != n || out.Rejected != 0 || out.Updated != 0 || out.Unchanged != 0 {
				return fmt.Errorf("engine into a fresh tenant: %+v, want all %d records created", out, n)
			}
			return nil
		})
	},
	modeAgain: func(ctx context.Context, store *postgres.Store, file string, o childOpts) (storeResult, error) {
		return engineImport(ctx, store, file, o, func(out postgres.Outcome, n int) error {
			if out.Unchanged != n || out.Created != 0 || out.Updated != 0 || out.Rejected != 0 {
				return fmt.Errorf("engine, same file again: %+v, want all %d records unchanged", out, n)
			}
			return nil
		})
	},
	modeNaive: naiveImport,
}

// storeChild runs a store mode on the database of DATABASE_URL and prints its
// result as JSON.
func storeChild(ctx context.Context, mode storeMode, args []string) error {
	if len(args) < 1 {
		return errors.New("want a file, then options")
	}
	var o childOpts
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	fs.StringVar(&o.tenant, "tenant", "", "tenant")
	fs.IntVar(&o.chunk, "chunk", 5000, "records per chunk")
	fs.IntVar(&o.appliers, "appliers", 2, "chunks applied at once")
	fs.IntVar(&o.rows, "rows", 0, "records to write (naive)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := mode(ctx, store, args[0], o)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// warmUp opens n connections, as a worker's pool holds them, so that
// connecting is not timed.
func warmUp(ctx context.Context, store *postgres.Store, n int) error {
	conns := make([]*pgxpool.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range n { // all held at once, so that the pool opens n of them
		c, err := store.Pool().Acquire(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	return nil
}

// engineImport imports the file as the queue does: the planner reads and
// validates it, cuts it into chunks and records them; then two workers apply
// the chunks at once. Timed from the start of reading to the last commit;
// want checks the summed outcome against the number of records.
func engineImport(ctx context.Context, store *postgres.Store, file string, o childOpts, want func(postgres.Outcome, int) error) (storeResult, error) {
	f, err := os.Open(file) //nolint:gosec // the parent passes a file it generated itself
	if err != nil {
		return storeResult{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return storeResult{}, err
	}
	if err := warmUp(ctx, store, o.appliers); err != nil {
		return storeResult{}, err
	}

	start := time.Now()
	roles, err := store.Roles(ctx, o.tenant)
	if err != nil {
		return storeResult{}, err
	}
	chunks, specs, n, err := readChunks(f, userfile.Options{Roles: roles, SizeHint: st.Size()}, o.chunk)
	if err != nil {
		return storeResult{}, err
	}
	read := time.Since(start)

	id, err := store.CreateImport(ctx, postgres.NewImport{Tenant: o.tenant, Kind: "local", Source: filepath.Base(file), SourceSize: st.Size()})
	if err != nil {
		return storeResult{}, err
	}
	if err := store.AddChunks(ctx, o.tenant, id, specs); err != nil {
		return storeResult{}, err
	}
	planned := time.Since(start)

	out, busy, err := applyChunks(ctx, store, o, id, chunks)
	if err != nil {
		return storeResult{}, err
	}
	elapsed := time.Since(start)

	if err := want(out, n); err != nil {
		return storeResult{}, err
	}
	if _, err := store.FinishImport(ctx, o.tenant, id, 0); err != nil {
		return storeResult{}, err
	}
	return storeResult{
		result: result{Seconds: elapsed.Seconds(), Records: n, Bytes: st.Size()},
		Phases: []phase{
			{"read+validate", read.Seconds()},
			{"plan", (planned - read).Seconds()},
			{"apply", (elapsed - planned).Seconds()},
			{"mean ApplyChunk", busy.Seconds() / float64(len(chunks))},
		},
	}, nil
}

// readChunks reads the whole file and cuts its records into chunks.
func readChunks(r io.Reader, opts userfile.Options, size int) (chunks [][]postgres.Record, specs []postgres.ChunkSpec, n int, err error) {
	ur := userfile.NewReader(r, opts)
	defer ur.Close()
	var cur []postgres.Record
	for {
		rec, err := ur.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, 0, err
		}
		n++
		if len(cur) == 0 {
			cur = make([]postgres.Record, 0, size)
			specs = append(specs, postgres.ChunkSpec{Seq: len(specs), Offset: rec.Offset, FirstLine: rec.Line})
		}
		spec := &specs[len(specs)-1]
		spec.Length, spec.Records = rec.End-spec.Offset, spec.Records+1
		// The record's raw bytes live in a buffer the reader reuses.
		cur = append(cur, postgres.Record{Line: rec.Line, User: rec.User, Errors: rec.Errors, Raw: bytes.Clone(rec.Raw())})
		if len(cur) == size {
			chunks, cur = append(chunks, cur), nil
		}
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks, specs, n, nil
}

// applyChunks applies the chunks from o.appliers goroutines, each taking the
// next chunk not yet taken, as workers do. It returns the summed outcome and
// the summed time spent in ApplyChunk.
func applyChunks(ctx context.Context, store *postgres.Store, o childOpts, importID int64, chunks [][]postgres.Record) (postgres.Outcome, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		mu    sync.Mutex
		total postgres.Outcome
		busy  time.Duration
		errs  []error
		wg    sync.WaitGroup
	)
	for range o.appliers {
		wg.Go(func() {
			for {
				seq := int(next.Add(1)) - 1
				if seq >= len(chunks) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				out, err := store.ApplyChunk(ctx, postgres.Chunk{Tenant: o.tenant, ImportID: importID, Seq: seq}, chunks[seq], postgres.ApplyOptions{})
				mu.Lock()
				busy += time.Since(t)
				total.Created += out.Created
				total.Updated += out.Updated
				total.Unchanged += out.Unchanged
				total.Rejected += out.Rejected
				if err != nil {
					errs = append(errs, fmt.Errorf("apply chunk %d: %w", seq, err))
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return total, busy, errors.Join(errs...)
}
