package producer

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/task"
)

// ErrNothingToRetry says an import has no rejected record to retry.
var ErrNothingToRetry = errors.New("the import has no rejected records to retry: it is not finished, or it rejected none")

// Retry starts a child import of the parent's rejected records: its source is
// the parent's error report, which is in the upload format (its Line and
// Errors columns are ignored on import). Retry after fixing what made the
// records fail elsewhere, such as a role missing from the catalog; to fix the
// records themselves, correct the report and upload it.
func Retry(ctx context.Context, store *postgres.Store, queue Enqueuer, ns task.Namespace, tenant string, parentID int64) (postgres.Import, error) {
	parent, err := store.Job(ctx, tenant, parentID)
	if err != nil {
		return postgres.Import{}, err
	}
	if parent.State != "finished" || parent.Report == "" || parent.Rejected == 0 {
		return postgres.Import{}, ErrNothingToRetry
	}
	id, err := store.CreateImport(ctx, postgres.NewImport{
		Tenant: tenant, Kind: "retry", ParentID: parentID, Source: parent.Report, RequestedBy: "retry",
		DryRun: parent.DryRun, Options: map[string]any{"notify": parent.Options["notify"]},
	})
	if err != nil {
		return postgres.Import{}, err
	}
	t, err := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, ns.Queue(task.QueueDefault))
	if err == nil {
		_, err = queue.EnqueueContext(ctx, t)
	}
	if err != nil {
		return postgres.Import{}, fmt.Errorf("queue retry of import %d: %w", parentID, err)
	}
	return store.Import(ctx, tenant, id)
}

func (a *API) retryImport(w http.ResponseWriter, r *http.Request, tenant string) {
	parent, ok := a.lookup(w, r, tenant)
	if !ok {
		return
	}
	child, err := Retry(r.Context(), a.d.Store, a.d.Queue, a.d.Namespace, tenant, parent.ID)
	if errors.Is(err, ErrNothingToRetry) {
		writeError(w, http.StatusConflict, "nothing_to_retry", err.Error())
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/imports/%d", child.ID))
	writeJSON(w, http.StatusAccepted, newImportView(child))
}
