package producer

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
)

// reportSuffix ends the error reports the workers write next to the files
// (worker.ReportSuffix; the producer does not import package worker).
const reportSuffix = ".errors.csv"

// Events configures the S3 event notifications endpoint, POST /v1/events/s3.
type Events struct {
	// Secret authenticates the sender: "Authorization: Bearer <secret>", or
	// "?token=<secret>" for stores that cannot add headers to their webhooks.
	// Empty disables the endpoint.
	Secret string
	// Prefix is where tenants drop files: <Prefix><tenant>/<name>.
	Prefix string
}

// s3Event is the standard S3 event notification (AWS, MinIO, versitygw).
type s3Event struct {
	Records []struct {
		EventName string `json:"eventName"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
				ETag string `json:"eTag"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	// An SNS envelope carries the event as a string.
	Type    string `json:"Type"`
	Message string `json:"Message"`
}

// s3Events starts an import for every object created under the prefix. The
// same object version announced twice makes one import.
func (a *API) s3Events(w http.ResponseWriter, r *http.Request) {
	if !a.eventSender(r) {
		// The secret is long enough not to be guessed; the limit keeps a
		// sender that keeps trying from costing more than a 429.
		if ok, wait := a.failing.allow(a.client(r)); !ok {
			tooMany(w, wait, "too many requests with a wrong events secret from this address")
			return
		}
		writeError(w, http.StatusUnauthorized, "unauthorized", "send the events secret (Authorization: Bearer, or ?token=)")
		return
	}
	var ev s3Event
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ev); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "malformed event JSON: "+err.Error())
		return
	}
	if ev.Type == "Notification" && ev.Message != "" {
		inner := s3Event{}
		if err := json.Unmarshal([]byte(ev.Message), &inner); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "malformed SNS message: "+err.Error())
			return
		}
		ev = inner
	}
	var ids []int64
	for _, rec := range ev.Records {
		if !strings.HasPrefix(rec.EventName, "s3:ObjectCreated:") && !strings.HasPrefix(rec.EventName, "ObjectCreated:") {
			continue // s3:TestEvent, deletions, ...
		}
		key, err := url.QueryUnescape(rec.S3.Object.Key) // event keys are URL-encoded
		if err != nil {
			key = rec.S3.Object.Key
		}
		tenant, ok := a.eventTenant(rec.S3.Bucket.Name, key)
		if !ok {
			a.d.Log.Info("s3 event ignored: not under the prefix, or no valid tenant", zap.String("bucket", rec.S3.Bucket.Name))
			continue
		}
		etag := strings.Trim(rec.S3.Object.ETag, `"`)
		if ok, err := a.eventObject(r.Context(), key, etag); err != nil {
			a.internal(w, r, err)
			return
		} else if !ok {
			a.d.Log.Info("s3 event ignored: no such object, or another version of it", zap.String("tenant", tenant))
			continue
		}
		im, created, err := a.intake().Start(r.Context(), postgres.NewImport{
			Tenant: tenant, Kind: lifecycle.KindEvent, Source: "s3://" + rec.S3.Bucket.Name + "/" + key,
			SourceETag: etag, SourceSize: rec.S3.Object.Size, RequestedBy: "s3 event",
		})
		if err != nil {
			a.internal(w, r, err)
			return
		}
		ids = append(ids, im.ID)
		if !created {
			continue // announced before: one import per object version
		}
		id := im.ID
		a.d.Log.Info("import queued from s3 event", zap.String("tenant", tenant), zap.Int64("import_id", id))
	}
	writeJSON(w, http.StatusOK, map[string]any{"imports": ids})
}

// eventObject says whether the event's object exists with its ETag. Whoever
// holds the events secret could otherwise announce objects that are not
// there, or an old version's ETag to import a file twice; an event that
// arrives after the object changed again is answered by the newer event.
func (a *API) eventObject(ctx context.Context, key, etag string) (bool, error) {
	o, err := a.d.Files.Head(ctx, key)
	if errors.Is(err, s3store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return etag != "" && strings.EqualFold(o.ETag, etag), nil
}

func (a *API) eventSender(r *http.Request) bool {
	secret := a.d.Events.Secret
	if secret == "" {
		return false
	}
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		given = r.URL.Query().Get("token")
	}
	return subtle.ConstantTimeCompare([]byte(given), []byte(secret)) == 1
}

// eventTenant takes the tenant from <prefix><tenant>/<name> in the service's
// bucket.
func (a *API) eventTenant(bucket, key string) (string, bool) {
	if bucket != a.d.Files.Bucket() {
		return "", false
	}
	rest, ok := strings.CutPrefix(key, a.d.Events.Prefix)
	if !ok {
		return "", false
	}
	tenant, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" || strings.HasSuffix(name, "/") || strings.Contains(name, "..") {
		return "", false
	}
	// An error report written next to an imported file is not a new file.
	if strings.HasSuffix(name, reportSuffix) {
		return "", false
	}
	return tenant, postgres.ValidTenant(tenant) == nil
}
