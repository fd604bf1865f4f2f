package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userimport/userimport/internal/importer"
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

// engineImport imports the file through importer.Local: reading and
// validating run while o.appliers goroutines apply the chunks, as workers
// would. Timed from the start of reading to the last commit; want checks the
// summed outcome against the number of records.
func engineImport(ctx context.Context, store *postgres.Store, file string, o childOpts, want func(postgres.Outcome, int) error) (storeResult, error) {
	f, size, err := openGenerated(file)
	if err != nil {
		return storeResult{}, err
	}
	defer f.Close()
	if err := warmUp(ctx, store, o.appliers+1); err != nil {
		return storeResult{}, err
	}
	start := time.Now()
	sum, err := importer.Local(ctx, store, f, importer.Options{
		Tenant: o.tenant, Source: filepath.Base(file), ChunkSize: o.chunk, Appliers: o.appliers,
		File: userfile.Options{SizeHint: size},
	})
	if err != nil {
		return storeResult{}, err
	}
	elapsed := time.Since(start)
	out := postgres.Outcome{Created: sum.Created, Updated: sum.Updated, Unchanged: sum.Unchanged, Rejected: sum.Rejected}
	if err := want(out, sum.Records); err != nil {
		return storeResult{}, err
	}
	return storeResult{result: result{Seconds: elapsed.Seconds(), Records: sum.Records, Bytes: size}}, nil
}

// openGenerated opens a file the parent generated and returns its size.
func openGenerated(file string) (*os.File, int64, error) {
	f, err := os.Open(file) //nolint:gosec // the parent passes a file it generated itself
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}
