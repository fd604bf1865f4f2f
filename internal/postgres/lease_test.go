package postgres_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userrow"
)

// A chunk whose worker stopped heartbeating is handed to the next
// generation: the old generation can neither renew the lease nor apply the
// chunk, nor claim it again, and the new one applies it once.
//
// Not parallel, nor is the next test: TakeOrphans looks at every tenant's leases.
func TestLeaseHandedOn(t *testing.T) {
	s := pgtest.Store(t)
	ctx := t.Context()
	tenant := pgtest.Tenant(t)
	if err := s.SetRoles(ctx, tenant, orderRoles); err != nil {
		t.Fatal(err)
	}
	im := genImports(t, rand.New(rand.NewPCG(1, 15)), 1)[0]
	id := planned(t, s, tenant, []orderImport{im})[0]
	c := postgres.Chunk{Tenant: tenant, ImportID: id, Seq: 0}
	dead := postgres.Lease{Worker: "killed", Generation: 0}
	if err := s.ClaimChunk(ctx, c, dead); err != nil {
		t.Fatal(err)
	}
	// Every heartbeat is older than 0: the lease is an orphan.
	if o, err := s.TakeOrphans(ctx, 0); err != nil || len(o) != 1 {
		t.Fatalf("TakeOrphans(0) = %v, %v; want the one lease (every heartbeat is older than 0)", o, err)
	}
	// Taken once, the lease has no worker: not taken again.
	if o, err := s.TakeOrphans(ctx, 0); err != nil || len(o) != 0 {
		t.Fatalf("TakeOrphans again = %v, %v; want none", o, err)
	}
	stale := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, postgres.ErrStaleLease) {
			t.Errorf("%s with generation 0 after the hand-on: %v, want ErrStaleLease", what, err)
		}
	}
	stale("HeartbeatChunk", s.HeartbeatChunk(ctx, c, dead))
	stale("ClaimChunk", s.ClaimChunk(ctx, c, postgres.Lease{Worker: "other", Generation: 0}))
	_, err := s.ApplyChunk(ctx, c, im.chunks[0], postgres.ApplyOptions{Defaults: userrow.Defaults{}, Lease: &dead})
	stale("ApplyChunk", err)

	next := postgres.Lease{Worker: "live", Generation: 1}
	if err := s.ClaimChunk(ctx, c, next); err != nil {
		t.Fatal(err)
	}
	if err := s.HeartbeatChunk(ctx, c, next); err != nil {
		t.Fatal(err)
	}
	out, err := s.ApplyChunk(ctx, c, im.chunks[0], postgres.ApplyOptions{Lease: &next})
	if err != nil {
		t.Fatal(err)
	}
	if out.AlreadyApplied || out.Created != len(im.chunks[0]) {
		t.Errorf("generation 1 applied %+v, want %d created", out, len(im.chunks[0]))
	}
	if err := s.ReleaseChunk(ctx, c, next, true); err != nil {
		t.Fatal(err)
	}
	if gens, err := s.ChunkGenerations(ctx, tenant, id); err != nil || len(gens) != 0 {
		t.Errorf("ChunkGenerations after the chunk was done = %v, %v; want none", gens, err)
	}
}

// A chunk whose task goes back to the queue keeps its generation, so that an
// older task still cannot claim it and the sweep enqueues the current one.
func TestLeaseReleasedKeepsGeneration(t *testing.T) {
	s := pgtest.Store(t)
	ctx := t.Context()
	tenant := pgtest.Tenant(t)
	im := genImports(t, rand.New(rand.NewPCG(2, 15)), 1)[0]
	id := planned(t, s, tenant, []orderImport{im})[0]
	c := postgres.Chunk{Tenant: tenant, ImportID: id, Seq: 0}
	l := postgres.Lease{Worker: "w", Generation: 3}
	if err := s.ClaimChunk(ctx, c, l); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseChunk(ctx, c, l, false); err != nil {
		t.Fatal(err)
	}
	if gens, err := s.ChunkGenerations(ctx, tenant, id); err != nil || gens[0] != 3 {
		t.Errorf("ChunkGenerations = %v, %v; want chunk 0 at generation 3", gens, err)
	}
	if err := s.ClaimChunk(ctx, c, postgres.Lease{Worker: "w", Generation: 2}); !errors.Is(err, postgres.ErrStaleLease) {
		t.Errorf("ClaimChunk of generation 2 = %v, want ErrStaleLease", err)
	}
	// An unclaimed lease is not an orphan: its task waits on the queue.
	if o, err := s.TakeOrphans(ctx, 0); err != nil || len(o) != 0 {
		t.Errorf("TakeOrphans = %v, %v; want none", o, err)
	}
}
