package lifecycle

import (
	"encoding/json"
	"fmt"
)

// OptionsVersion is the version of the stored form of Options. A reader
// refuses a newer one rather than guess at fields it does not know: a worker
// of an older release must leave such an import to a newer worker.
const OptionsVersion = 1

// Options are what an import was asked to do, as every entry point states
// them and every task reads them back. They are stored as JSON with a
// version (imports.options).
type Options struct {
	Delimiter string   `json:"delimiter,omitempty"` // auto (""), comma or semicolon
	Header    string   `json:"header,omitempty"`    // auto (""), skip or none
	Notify    []string `json:"notify,omitempty"`    // who gets the result e-mail
	Feed      string   `json:"feed,omitempty"`      // the feed whose run made the import
	DryRun    bool     `json:"dry_run,omitempty"`   // classify and count, write no user
}

type storedOptions struct {
	Version int `json:"v"`
	Options
}

// Marshal returns the stored form.
func (o Options) Marshal() ([]byte, error) {
	return json.Marshal(storedOptions{Version: OptionsVersion, Options: o})
}

// ParseOptions reads the stored form. Rows written before the version field
// (version 0) have the same fields.
func ParseOptions(b []byte) (Options, error) {
	var s storedOptions
	if len(b) == 0 {
		return s.Options, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return Options{}, fmt.Errorf("import options: %w", err)
	}
	if s.Version > OptionsVersion {
		return Options{}, fmt.Errorf("import options version %d is newer than this release's %d: run a newer worker", s.Version, OptionsVersion)
	}
	return s.Options, nil
}
