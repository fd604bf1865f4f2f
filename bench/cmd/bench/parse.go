package main

import (
	"encoding/csv"
	"errors"
	"io"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/userfile"
)

// parseEncodingCSV is the baseline: the standard library's reader in its
// fastest configuration (a reused record slice).
func parseEncodingCSV(r io.Reader, _ int64) (int, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord, cr.ReuseRecord = -1, true
	n := 0
	for {
		if _, err := cr.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				return n - 1, nil // the header is not a record
			}
			return n, err
		}
		n++
	}
}

func parseCSVFile(r io.Reader, _ int64) (int, error) {
	cr := csvfile.NewReader(r, csvfile.Options{})
	n := 0
	for {
		if _, err := cr.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				return n - 1, nil
			}
			return n, err
		}
		n++
	}
}

// demoRoles is the role catalog the generator draws from.
var demoRoles = []string{"agent", "supervisor", "admin", "auditor"}

// validate reads the file as importctl validate does.
func validate(r io.Reader, size int64) (int, error) {
	ur := userfile.NewReader(r, userfile.Options{Roles: demoRoles, SizeHint: size})
	defer ur.Close()
	n := 0
	for {
		if _, err := ur.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}
