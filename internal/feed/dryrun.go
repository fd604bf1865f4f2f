package feed

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// ErrNoFile is a dry run of the newest file of a feed whose folder has none.
var ErrNoFile = errors.New("no file")

// LocalImport imports a file in this process (importer.Local with a store).
type LocalImport func(ctx context.Context, r io.Reader, opts importer.Options) (importer.Summary, error)

// DryRunResult is what a run of a feed would do with a file (importctl
// feeds dry-run prints it; its JSON form is --format json's).
type DryRunResult struct {
	Feed      string  `json:"feed"`
	Source    string  `json:"source"`
	Mode      string  `json:"mode"`
	ImportID  int64   `json:"import_id"` // the dry run's import record (kind local, dry run)
	Records   int     `json:"records"`
	Create    int     `json:"to_create"`
	Update    int     `json:"to_update"`
	Unchanged int     `json:"unchanged"`
	Rejected  int     `json:"rejected"`
	FileError *string `json:"file_error"`
	// Active is the number of active users now.
	Active     int    `json:"active"`
	Deactivate []User `json:"to_deactivate"`
	Reactivate []User `json:"to_reactivate"`
	// OverLimit says why the run would wait for approval; "" when it would not.
	OverLimit string `json:"over_limit"`
}

// User is a user a run would deactivate or reactivate.
type User struct {
	LoginID string `json:"login_id"`
	Name    string `json:"name"`
}

// DryRun says what a run of f would do with the object key ("": the newest
// under the feed's prefix, as Run picks it), writing no user: it imports
// the file as a dry run (which counts creates, updates and rejections, and
// leaves its import record, kind local, behind), then reads its Login IDs
// and decides, reading only, as the run's step would (Decide).
func (r *Runner) DryRun(ctx context.Context, f *postgres.Feed, key string) (DryRunResult, error) {
	var (
		obj s3store.Object
		err error
	)
	if key == "" {
		var found bool
		if obj, found, err = r.newest(ctx, f); err == nil && !found {
			err = fmt.Errorf("%w under %s", ErrNoFile, r.url(f.Prefix))
		}
	} else {
		obj, err = r.Files.Head(ctx, key)
	}
	if err != nil {
		return DryRunResult{}, err
	}
	var opts userfile.Options
	opts.Delimiter, _ = userfile.ParseDelimiter(f.Delimiter)
	opts.Header, _ = userrow.ParseHeaderMode(f.Header)
	opts.SizeHint = obj.Size
	body, err := r.Files.OpenRange(ctx, obj.Key, 0, -1)
	if err != nil {
		return DryRunResult{}, err
	}
	source := r.url(obj.Key)
	sum, err := r.Import(ctx, body, importer.Options{Tenant: f.Tenant, Source: source, File: opts, DryRun: true})
	body.Close()
	if err != nil {
		return DryRunResult{}, err
	}
	res := DryRunResult{Feed: f.Name, Source: source, Mode: f.Mode, ImportID: sum.ImportID, Records: sum.Records,
		Create: sum.Created, Update: sum.Updated, Unchanged: sum.Unchanged, Rejected: sum.Rejected, FileError: sum.FileError,
		Deactivate: []User{}, Reactivate: []User{}}
	if sum.FileError != nil {
		return res, nil
	}
	rejected := make([]int, 0, len(sum.Errors))
	for _, p := range sum.Errors {
		rejected = append(rejected, p.Line)
	}
	in, err := r.syncInput(ctx, obj.Key, 0, opts, rejected)
	if err != nil {
		return res, err
	}
	plan, err := r.Store.PlanSync(ctx, f.Tenant, in.Present, in.Imported)
	if err != nil {
		return res, err
	}
	out := Decide(f, postgres.FeedStep{Plan: plan})
	res.Active = plan.Active
	res.Reactivate = users(res.Reactivate, plan.Reactivate)
	if out.Full {
		res.Deactivate = users(res.Deactivate, plan.Absent)
	}
	if out.State == lifecycle.RunNeedsApproval {
		res.OverLimit = out.Reason
	}
	return res, nil
}

func users(dst []User, us []postgres.UserRef) []User {
	for _, u := range us {
		dst = append(dst, User{LoginID: u.LoginID, Name: u.Name})
	}
	return dst
}
