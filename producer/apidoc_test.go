package producer_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/apidoc"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/producer"
)

// The OpenAPI document names exactly the /v1/ routes the producer serves:
// a route added without its description, or a description left for a route
// that is gone, fails here.
func TestDocumentNamesEveryRoute(t *testing.T) {
	t.Parallel()
	h := producer.NewHandler(producer.Deps{Store: pgtest.Store(t), Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop()})
	var served []string
	for _, rt := range h.Routes() {
		if _, path, _ := strings.Cut(rt.Pattern, " "); strings.HasPrefix(path, "/v1/") {
			served = append(served, rt.Pattern)
		}
	}
	slices.Sort(served)
	documented, err := apidoc.Operations()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(served, documented); diff != "" {
		t.Errorf("routes served (-) and documented in internal/apidoc/openapi.json (+) differ:\n%s", diff)
	}
	if len(served) < 14 {
		t.Errorf("%d /v1/ routes served; the API has at least 14", len(served))
	}
}

// The document is served without a token.
func TestDocumentIsServed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: pgtest.Store(t), Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop()}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+apidoc.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || string(b) != string(apidoc.Document()) {
		t.Errorf("GET %s: %d %s, %d bytes; want 200 application/json with the document", apidoc.Path, resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
	}
}
