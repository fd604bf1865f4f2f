package producer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/producer"
)

// A tenant's admin sets the default recipients with the API; an S3-event
// import, which names nobody, then notifies them. A setting that cannot work
// is refused and changes nothing.
func TestSettingsDefaultRecipientsReachEventImports(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	q := &recorder{}
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: files, Queue: q, Log: zap.NewNop(),
		Events: producer.Events{Secret: eventsSecret}}))
	t.Cleanup(srv.Close)
	tenant := pgtest.Tenant(t)
	tok := token(t, store, tenant)
	settings := func(method, body string) (int, producer.SettingsView) {
		t.Helper()
		code, out := stacktest.Do(t, method, srv.URL+"/v1/settings", tok, "application/json", strings.NewReader(body))
		var v producer.SettingsView
		if code == http.StatusOK {
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("%s /v1/settings: %s: %v", method, out, err)
			}
		}
		return code, v
	}
	if code, v := settings("GET", ""); code != http.StatusOK || len(v.DefaultNotify) != 0 || v.UpdatedAt != nil {
		t.Fatalf("a new tenant's settings: %d %+v, want the defaults, never set", code, v)
	}
	code, v := settings("PATCH", `{"default_notify": ["hr@acme.example"], "default_delimiter": "semicolon"}`)
	if code != http.StatusOK || !slices.Equal(v.DefaultNotify, []string{"hr@acme.example"}) || v.DefaultDelimiter != "semicolon" || v.UpdatedAt == nil {
		t.Fatalf("PATCH: %d %+v", code, v)
	}
	for _, bad := range []string{`{"default_notify": ["not an address"]}`, `{"default_header": "sometimes"}`, `{"notify_domains": ["other.example"]}`, `{"colour": "red"}`} {
		if code, _ := settings("PATCH", bad); code != http.StatusBadRequest {
			t.Errorf("PATCH %s: %d, want 400", bad, code)
		}
	}
	if _, after := settings("GET", ""); !slices.Equal(after.DefaultNotify, v.DefaultNotify) || len(after.NotifyDomains) != 0 {
		t.Errorf("settings after the refused changes: %+v, want %+v", after, v)
	}

	key := "incoming/" + tenant + "/hr.csv"
	o, err := files.Put(t.Context(), key, []byte("User name;Login ID\nAnna;anna\n"), "text/csv")
	if err != nil {
		t.Fatal(err)
	}
	event := `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"userimport"},"object":{"key":"` + key + `","size":10,"eTag":"` + o.ETag + `"}}}]}`
	if code, out := stacktest.Do(t, "POST", srv.URL+"/v1/events/s3", eventsSecret, "application/json", strings.NewReader(event)); code != http.StatusOK {
		t.Fatalf("event: %d %s", code, out)
	}
	ims, err := store.Imports(t.Context(), tenant, "", 10)
	if err != nil || len(ims) != 1 {
		t.Fatalf("imports %+v (%v), want the event's", ims, err)
	}
	job, err := store.Job(t.Context(), tenant, ims[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(job.Options.Notify, []string{"hr@acme.example"}) || job.Options.Delimiter != "semicolon" {
		t.Errorf("the event's import: options %+v, want the tenant's default recipients and delimiter", job.Options)
	}
}
