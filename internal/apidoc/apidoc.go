// Package apidoc holds the producer's OpenAPI 3.1 document, openapi.json:
// every /v1/ route with its parameters, request bodies, responses and
// security schemes. The producer serves it at GET /v1/openapi.json; the API
// and end-to-end tests check every response they receive against it
// (package apidoctest), and a test checks that it names exactly the
// producer's /v1/ routes, so that it cannot drift from the code.
//
// A route is added in openapi.json under "paths", its answers by reference
// to the shared "components" (the JSON error shape is #/components/schemas/Error,
// the common answers #/components/responses/...).
package apidoc

import (
	_ "embed" // the document
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Path is where the producer serves the document.
const Path = "/v1/openapi.json"

//go:embed openapi.json
var document []byte

// Document returns the document's bytes (a copy).
func Document() []byte { return slices.Clone(document) }

// Handler serves the document; it needs no credentials.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(document)
	})
}

// methods are the keys of a path item that name operations.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Operations returns every operation of the document as http.ServeMux
// patterns ("GET /v1/imports/{id}"), sorted.
func Operations() ([]string, error) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(document, &doc); err != nil {
		return nil, fmt.Errorf("decode openapi.json: %w", err)
	}
	var ops []string
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(methods, key) {
				ops = append(ops, strings.ToUpper(key)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops, nil
}
