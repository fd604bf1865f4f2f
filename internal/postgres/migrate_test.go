package postgres_test

import (
	"sync"
	"testing"

	"github.com/userimport/userimport/internal/postgres"
)

// Workers starting together all migrate: the advisory lock lets one do it
// and the others find the schema up to date.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := freshDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(ctx)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v < 1 {
		t.Errorf("schema version %d, %v", v, err)
	}
}
