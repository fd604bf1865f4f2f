// Package usergen writes realistic, exactly reproducible user CSV files in the
// import format (the 27 columns of package userrow), optionally with a share of
// records that each carry exactly one known defect. Benchmarks, the demo and
// end-to-end tests use it, so it streams through a bufio.Writer and keeps fmt
// and allocations out of the per-record path. Every output also parses with
// encoding/csv (FieldsPerRecord = -1), which the benchmarks compare against.
//
// Reproducibility: the output is a pure function of Options. Everything random
// comes from math/rand/v2 PCG streams seeded from Options.Seed, except what
// identifies a user — User name, Login ID and phone numbers — which depends
// only on Options.LoginPrefix and the record's number. Two files written with
// the same prefix therefore describe the same users (an update feed). Prefixes
// that differ other than in case or by trailing digits ("u" vs "u1") never
// share a Login ID or SIP URI; their numeric phone numbers may still meet.
package usergen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/userimport/userimport/internal/userrow"
)

// Options configures Write. The zero value plus Rows is a valid, comma-separated
// file with a header and no defects.
type Options struct {
	Rows        int     // data records to write (the header is extra)
	Seed        int64   // same seed, same options → byte-identical output
	Invalid     float64 // share of records with exactly one defect, 0 ≤ Invalid ≤ 1; 0 means every record is valid
	Delimiter   rune    // ',' (default when 0) or ';'
	NoHeader    bool    // omit the header row (positional file)
	LoginPrefix string  // prefix of every Login ID, ASCII letters and digits, at most 16 ("" = "user")
}

// Defect says which record was made invalid on purpose and which column
// carries the defect ("" for record-level defects such as a wrong field count).
//
// Kind is one of: "missing user name", "user name too long", "missing login",
// "login forbidden character", "login too long", "duplicate login",
// "bad language", "bad e-mail", "bad date", "bad phone", "bad password hash",
// "bad flag", "unknown role", "bad recording mode", "bad time zone",
// "bad file name", "custom field too long", "conference message too long",
// "field count".
type Defect struct {
	Line   int    // physical line where the record starts, 1-based; a header is line 1
	Column string // userrow.Column.String() of the defective column, "" for "field count"
	Kind   string
}

// Summary describes what Write wrote.
type Summary struct {
	Records int      // data records, = Options.Rows
	Invalid int      // records with a defect, = len(Defects)
	Lines   int      // physical lines written, including the header
	Defects []Defect // in file order
}

// maxPrefix keeps prefix + a 10-digit record number within the 32-character
// Login ID limit, with room for the one-character defects.
const maxPrefix = 16

// Write writes opts.Rows user records to w. Exactly round(Rows × Invalid)
// records carry one defect each, spread over the file by selection sampling
// and cycling through every defect kind. Records not chosen are byte-identical
// to the same records of a file written with Invalid = 0.
func Write(w io.Writer, opts Options) (Summary, error) {
	g, err := newGenerator(opts)
	if err != nil {
		return Summary{}, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	sum := Summary{Records: opts.Rows}

	if !opts.NoHeader {
		g.rec = g.rec[:0]
		for i, title := range userrow.Names() {
			if i > 0 {
				g.rec = append(g.rec, g.delim)
			}
			g.rec = g.appendField(g.rec, []byte(title))
		}
		g.rec = append(g.rec, '\n')
		if _, err := bw.Write(g.rec); err != nil {
			return sum, fmt.Errorf("write header: %w", err)
		}
		sum.Lines = 1
	}

	// Selection sampling (Knuth's algorithm S) picks exactly want records in
	// one pass without remembering positions.
	want := int(math.Round(float64(opts.Rows) * opts.Invalid))
	for i := range opts.Rows {
		n := i + 1
		g.record(n)

		start := sum.Lines + 1
		if want > 0 && g.defects.IntN(opts.Rows-i) < want {
			want--
			d := g.spoil()
			d.Line = start
			sum.Defects = append(sum.Defects, d)
		} else if want > 0 {
			// Only a file that still has defects to place needs candidates
			// for "duplicate login".
			g.remember()
		}

		g.serialize()
		sum.Lines += bytes.Count(g.rec, []byte{'\n'}) // quoted fields may span lines
		if _, err := bw.Write(g.rec); err != nil {
			return sum, fmt.Errorf("write record %d: %w", n, err)
		}
	}
	sum.Invalid = len(sum.Defects)
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("write: %w", err)
	}
	return sum, nil
}

// generator holds the reusable buffers of one Write call.
type generator struct {
	delim       byte
	prefix      string
	prefixLower string
	prefixSeed  uint64

	content *rand.Rand // every value of a valid record
	defects *rand.Rand // selection and shape of defects, so they leave content untouched

	n     int // number of the current record, 1-based
	id    person
	f     [userrow.NumColumns][]byte
	nf    int // fields to write: NumColumns, or one less or more for a "field count" defect
	extra []byte
	tmp   []byte
	rec   []byte

	special [256]bool // bytes that make a field need quotes: delimiter, '"', CR, LF

	nextKind  int      // index into defectKinds of the next defect
	earlier   []string // reservoir sample of Login IDs of earlier valid records
	validSeen int
}

func newGenerator(opts Options) (*generator, error) {
	if opts.Rows < 0 {
		return nil, fmt.Errorf("rows %d: must not be negative", opts.Rows)
	}
	if !(opts.Invalid >= 0 && opts.Invalid <= 1) { // also rejects NaN
		return nil, fmt.Errorf("invalid share %v: must be between 0 and 1", opts.Invalid)
	}
	g := &generator{nf: userrow.NumColumns, prefix: opts.LoginPrefix}
	switch opts.Delimiter {
	case 0, ',':
		g.delim = ','
	case ';':
		g.delim = ';'
	default:
		return nil, fmt.Errorf("delimiter %q: must be ',' or ';'", opts.Delimiter)
	}
	for _, c := range []byte{g.delim, '"', '\n', '\r'} {
		g.special[c] = true
	}
	if g.prefix == "" {
		g.prefix = "user"
	}
	if err := checkPrefix(g.prefix); err != nil {
		return nil, err
	}
	lower := []byte(g.prefix)
	for i, c := range lower {
		lower[i] = toLower(c)
	}
	g.prefixLower = string(lower)
	// FNV-1a of the prefix: identities follow the prefix, not the seed.
	g.prefixSeed = 14695981039346656037
	for i := 0; i < len(g.prefix); i++ {
		g.prefixSeed = (g.prefixSeed ^ uint64(g.prefix[i])) * 1099511628211
	}
	seed := uint64(opts.Seed)
	g.content = rand.New(rand.NewPCG(seed, 0x75736572_636f6e74)) // "usercont"
	g.defects = rand.New(rand.NewPCG(seed, 0x75736572_64656665)) // "userdefe"
	return g, nil
}

func checkPrefix(p string) error {
	if len(p) > maxPrefix {
		return fmt.Errorf("login prefix %q: longer than %d characters", p, maxPrefix)
	}
	for i := 0; i < len(p); i++ {
		if !isASCIILetter(p[i]) && !isDigit(p[i]) {
			return fmt.Errorf("login prefix %q: only ASCII letters and digits are allowed", p)
		}
	}
	return nil
}

// serialize renders the current record's fields into g.rec, quoting as RFC 4180
// requires, terminated by LF.
func (g *generator) serialize() {
	b := g.rec[:0]
	for i := range g.nf {
		if i > 0 {
			b = append(b, g.delim)
		}
		if i < userrow.NumColumns {
			b = g.appendField(b, g.f[i])
		} else {
			b = g.appendField(b, g.extra)
		}
	}
	b = append(b, '\n')
	g.rec = b
}

// appendField quotes only the fields that need it, as Excel does; spaces need
// no quotes because the importer trims after unquoting anyway.
func (g *generator) appendField(b, v []byte) []byte {
	quote := false
	for _, c := range v {
		if g.special[c] {
			quote = true
			break
		}
	}
	if !quote {
		return append(b, v...)
	}
	b = append(b, '"')
	for {
		i := bytes.IndexByte(v, '"')
		if i < 0 {
			break
		}
		b = append(b, v[:i+1]...)
		b = append(b, '"')
		v = v[i+1:]
	}
	b = append(b, v...)
	return append(b, '"')
}

// remember offers the current (valid) record's Login ID to a fixed-size
// reservoir sample, so duplicates reach back across the whole file — the
// importer must detect them across chunks — in constant memory.
func (g *generator) remember() {
	const size = 256
	g.validSeen++
	j := len(g.earlier)
	if j == size {
		if j = g.defects.IntN(g.validSeen); j >= size {
			return
		}
	}
	login := string(bytes.Trim(g.f[userrow.LoginID], " "))
	if j == len(g.earlier) {
		g.earlier = append(g.earlier, login)
	} else {
		g.earlier[j] = login
	}
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool       { return c >= '0' && c <= '9' }

func toLower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func toUpper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// appendPadded appends v in decimal with leading zeros to width digits.
func appendPadded(b []byte, v uint64, width int) []byte {
	var d [20]byte
	i := len(d)
	for v > 0 || i > len(d)-width {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[i:]...)
}
