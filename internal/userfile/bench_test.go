package userfile_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/usergen"
)

var benchFile = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	if _, err := usergen.Write(&buf, usergen.Options{Rows: 100_000, Seed: 1, Invalid: 0.01}); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

// The three benchmarks read the same generated 100,000-record file: compare
// them with benchstat or bench/cmd/bench, which prints the ratios.
func BenchmarkEncodingCSV(b *testing.B) {
	data := benchFile()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord, r.ReuseRecord = -1, true
		for {
			if _, err := r.Read(); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCSVFile(b *testing.B) {
	data := benchFile()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := csvfile.NewReader(bytes.NewReader(data), csvfile.Options{})
		for {
			if _, err := r.Read(); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	data := benchFile()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := userfile.NewReader(bytes.NewReader(data), userfile.Options{Roles: demoRoles})
		for {
			if _, err := r.Read(); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				b.Fatal(err)
			}
		}
	}
}
