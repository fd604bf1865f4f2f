package intake_test

import (
	"errors"
	"os"
	"testing"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

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
