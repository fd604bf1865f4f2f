package intake_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type queue struct{ tasks []*asynq.Task }

func (q *queue) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	q.tasks = append(q.tasks, t)
	return &asynq.TaskInfo{}, nil
}

func ptr[T any](v T) *T { return &v }

// An import that leaves its recipients, delimiter or header to the tenant
// gets the tenant's defaults, whatever its kind; what it names itself wins.
func TestStartUsesTheTenantsDefaults(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	in := intake.Intake{Store: store, Queue: &queue{}}
	tenant := pgtest.Tenant(t)
	change, err := in.CheckSettings(ctx, tenant, postgres.TenantSettingsChange{
		DefaultNotify: ptr([]string{"HR@acme.example"}), DefaultDelimiter: ptr("semicolon"), DefaultHeader: ptr("skip")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetTenantSettings(ctx, tenant, change); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []lifecycle.Kind{lifecycle.KindEvent, lifecycle.KindUpload, lifecycle.KindLocal} {
		im, _, err := in.Start(ctx, postgres.NewImport{Tenant: tenant, Kind: kind, Source: "s3://b/incoming/" + tenant + "/" + string(kind) + ".csv"})
		if err != nil {
			t.Fatal(err)
		}
		job, err := store.Job(ctx, tenant, im.ID)
		if err != nil {
			t.Fatal(err)
		}
		if o := job.Options; !slices.Equal(o.Notify, []string{"HR@acme.example"}) || o.Delimiter != "semicolon" || o.Header != "skip" {
			t.Errorf("%s import: options %+v, want the tenant's defaults", kind, o)
		}
	}
	im, _, err := in.Start(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://b/incoming/" + tenant + "/own.csv",
		Options: lifecycle.Options{Notify: []string{"me@acme.example"}, Delimiter: "auto", Header: "none"}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := store.Job(ctx, tenant, im.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o := job.Options; !slices.Equal(o.Notify, []string{"me@acme.example"}) || o.Delimiter != "auto" || o.Header != "none" {
		t.Errorf("an import naming its own options got %+v", o)
	}
}

// A setting that could not work is refused with a reason, and nothing of the
// change is stored.
func TestCheckSettingsRefusesWhatCannotWork(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	in := intake.Intake{Store: store, NotifyMax: 2}
	tenant := pgtest.Tenant(t)
	domains, err := in.CheckSettings(ctx, tenant, postgres.TenantSettingsChange{NotifyDomains: ptr([]string{"ACME.example"})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetTenantSettings(ctx, tenant, domains); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]postgres.TenantSettingsChange{
		"outside the stored domains": {DefaultNotify: ptr([]string{"hr@other.example"})},
		"outside the new domains":    {NotifyDomains: ptr([]string{"corp.example"}), DefaultNotify: ptr([]string{"hr@acme.example"})},
		"more than NotifyMax":        {DefaultNotify: ptr([]string{"a@acme.example", "b@acme.example", "c@acme.example"})},
		"not an address":             {DefaultNotify: ptr([]string{"nobody"})},
		"bad delimiter":              {DefaultDelimiter: ptr("tab")},
		"bad header":                 {DefaultHeader: ptr("maybe")},
		"bad domain":                 {NotifyDomains: ptr([]string{"not a domain"})},
	} {
		_, err := in.CheckSettings(ctx, tenant, c)
		var bad *intake.InvalidError
		if !errors.As(err, &bad) || bad.Reason == "" {
			t.Errorf("%s: CheckSettings = %v, want an InvalidError with a reason", name, err)
		}
	}
	ts, err := store.TenantSettings(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.DefaultNotify) != 0 || ts.DefaultDelimiter != "" || !slices.Equal(ts.NotifyDomains, []string{"acme.example"}) {
		t.Errorf("settings after the refusals: %+v, want only the domains", ts)
	}
}

// Domains that leave out the stored default recipients are refused.
func TestCheckSettingsKeepsTheDefaultRecipientsReachable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	in := intake.Intake{Store: store}
	tenant := pgtest.Tenant(t)
	c, err := in.CheckSettings(ctx, tenant, postgres.TenantSettingsChange{DefaultNotify: ptr([]string{"hr@acme.example"})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetTenantSettings(ctx, tenant, c); err != nil {
		t.Fatal(err)
	}
	var bad *intake.InvalidError
	if _, err := in.CheckSettings(ctx, tenant, postgres.TenantSettingsChange{NotifyDomains: ptr([]string{"corp.example"})}); !errors.As(err, &bad) {
		t.Errorf("domains leaving out the default recipients: %v, want an InvalidError", err)
	}
	if _, err := in.CheckSettings(ctx, tenant, postgres.TenantSettingsChange{NotifyDomains: ptr([]string{"acme.example"})}); err != nil {
		t.Errorf("domains keeping them: %v", err)
	}
}

// An undo has no file: Start refuses the kind, Undo starts it.
func TestUndoIsNotStarted(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	in := &intake.Intake{Store: s}
	var invalid *intake.InvalidError
	if _, _, err := in.Start(t.Context(), postgres.NewImport{Tenant: tenant, Kind: lifecycle.KindUndo, Source: "x"}); !errors.As(err, &invalid) {
		t.Errorf("Start of an undo: %v, want InvalidError", err)
	}
	id, _, err := s.CreateImport(t.Context(), postgres.NewImport{Tenant: tenant, Kind: lifecycle.KindLocal, Source: "x", Options: lifecycle.Options{DryRun: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Undo(t.Context(), tenant, id, postgres.UndoOptions{}); !errors.Is(err, postgres.ErrUndoDryRun) {
		t.Errorf("Undo of a dry run: %v, want ErrUndoDryRun", err)
	}
	if _, err := in.Undo(t.Context(), "Not A Tenant", id, postgres.UndoOptions{}); !errors.As(err, &invalid) {
		t.Errorf("Undo for a bad tenant: %v, want InvalidError", err)
	}
}
