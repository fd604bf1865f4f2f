package producer

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/userimport/userimport/internal/intake"
)

func (a *API) retryImport(w http.ResponseWriter, r *http.Request, tenant string) {
	parent, ok := a.lookup(w, r, tenant)
	if !ok {
		return
	}
	child, err := a.intake().Retry(r.Context(), tenant, parent.ID)
	if errors.Is(err, intake.ErrNothingToRetry) {
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
