package producer

import (
	"bufio"
	"net/http"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// exportUsers streams the tenant's users in the import format with a header
// row, as importctl export does: password hashes left out, formula-looking
// values guarded. ?delimiter=comma (the default) or semicolon.
func (a *API) exportUsers(w http.ResponseWriter, r *http.Request, tenant string) {
	name := r.URL.Query().Get("delimiter")
	if name == "" {
		name = "comma"
	}
	d, err := userfile.ParseDelimiter(name)
	if err != nil || d == 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "delimiter: use comma or semicolon")
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="users.csv"`)
	bw := bufio.NewWriterSize(w, 64<<10)
	uw := userfile.NewWriter(bw, d)
	n := 0
	// Once the first bytes are out the status is sent: a failure later cuts
	// the body short, which the client sees as an unexpected EOF (the CSV's
	// last record is incomplete or missing).
	err = uw.WriteHeader()
	if err == nil {
		err = a.d.Store.ExportUsers(r.Context(), tenant, func(u *userrow.User) error {
			n++
			return uw.WriteUser(u)
		})
	}
	if err == nil {
		err = uw.Flush()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		a.d.Log.Warn("export interrupted", zap.String("tenant", tenant), zap.Int("users", n), zap.Error(err))
		panic(http.ErrAbortHandler) // the connection is cut: a truncated export never looks complete
	}
	a.d.Log.Info("users exported", zap.String("tenant", tenant), zap.Int("users", n))
}
