package csvfile_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/usergen"
)

// BenchmarkRead reads a generated user file (27 columns, quoted role lists
// with line breaks inside) with LF and with CRLF line ends: the reader's hot
// path, which the bench suite (bench/cmd/bench) measures end to end.
func BenchmarkRead(b *testing.B) {
	var lf bytes.Buffer
	if _, err := usergen.Write(&lf, usergen.Options{Rows: 20000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"LF", lf.Bytes()},
		{"CRLF", bytes.ReplaceAll(lf.Bytes(), []byte("\n"), []byte("\r\n"))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.in)))
			b.ReportAllocs()
			for b.Loop() {
				r := csvfile.NewReader(bytes.NewReader(c.in), csvfile.Options{})
				for {
					if _, err := r.Read(); err != nil {
						if !errors.Is(err, io.EOF) {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}
