package postgres_test

import (
	"testing"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userrow"
)

// A slow import of an older night that ends after a later night's was
// applied changes nobody: its file is out of date.
func TestOlderRunSupersededByLaterOne(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	apply(t, s, tenant, parse(t, nil,
		map[userrow.Column]string{userrow.UserName: "Anna", userrow.LoginID: "anna"},
		map[userrow.Column]string{userrow.UserName: "Béla", userrow.LoginID: "bela"}))
	f, err := s.CreateFeed(ctx, postgres.Feed{Tenant: tenant, Name: "hr", Prefix: "feeds/" + tenant + "/", Schedule: "@daily",
		TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: "full", MaxDeactivatePercent: 60, Notify: []string{"a@b.example"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	var runs []postgres.FeedRun
	for i := range 2 {
		n := postgres.NewFeedRun{Feed: f, ScheduledFor: today.AddDate(0, 0, i),
			Source: "s3://b/feeds/" + tenant + "/x.csv", ObjectKey: "x", ObjectETag: string(rune('a' + i))}
		r, ok, err := s.StartFeedRun(ctx, n, &postgres.NewImport{Tenant: tenant, Kind: lifecycle.KindFeed, Source: n.Source, SourceETag: n.ObjectETag})
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		runs = append(runs, r)
	}
	later, err := s.ApplyFeedRun(ctx, &f, runs[1].ID, postgres.SyncInput{Present: []string{"ANNA", "bela"}, Imported: []string{"anna", "bela"}, Full: true})
	if err != nil || later.State != "finished" || later.Deactivated != 0 || *later.ActiveBefore != 2 {
		t.Fatalf("later run: %+v (%v)", later, err)
	}
	older, err := s.ApplyFeedRun(ctx, &f, runs[0].ID, postgres.SyncInput{Present: []string{"anna"}, Full: true})
	if err != nil || older.State != "superseded" || older.Deactivated != 0 {
		t.Fatalf("older run: %+v (%v)", older, err)
	}
	var active int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1 AND active`, tenant).Scan(&active); err != nil || active != 2 {
		t.Fatalf("%d active (%v), want 2", active, err)
	}
	// Applied again (a redelivered finalize), a run changes nothing.
	again, err := s.ApplyFeedRun(ctx, &f, runs[1].ID, postgres.SyncInput{Full: true})
	if err != nil || again.State != "finished" || again.Deactivated != 0 {
		t.Fatalf("applied again: %+v (%v)", again, err)
	}
}
