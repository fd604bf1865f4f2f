package userrow

import (
	"cmp"
	"slices"
	"strings"
)

// DateLayout is how dates are written back: the format's own yyyy.mm.dd.
const DateLayout = "2006.01.02"

// Values returns the user's 27 columns in their canonical written form, as an
// export writes them: dates yyyy.mm.dd, flags 0/1, lists sorted and joined
// with their separator (';', or a line break for roles). A column the user
// has no value for is "".
func (u *User) Values() [NumColumns]string {
	var v [NumColumns]string
	var buf []byte
	for c := range Column(NumColumns) {
		buf = u.appendValue(buf[:0], c, false)
		v[c] = string(buf)
	}
	return v
}

// ColumnHashes returns a 64-bit hash of each column's written value, lists
// taken as sets and group and role names case-insensitively (they name the
// same group or role either way). Two users with equal hashes for a column
// hold the same value there. The hash is FNV-1a: stable across processes and
// versions, as stored hashes must be. It runs for every record an import
// reads, so it writes into one reused buffer instead of making strings.
func (u *User) ColumnHashes() [NumColumns]uint64 {
	var (
		h   [NumColumns]uint64
		arr [256]byte
	)
	buf := arr[:0]
	for c := range Column(NumColumns) {
		buf = u.appendValue(buf[:0], c, true)
		h[c] = hashBytes(c, buf)
	}
	return h
}

// HashValue is the hash ColumnHashes gives column c holding the written value v.
func HashValue(c Column, v string) uint64 {
	if c == Groups || c == Roles {
		v = strings.ToLower(v)
	}
	return hashBytes(c, []byte(v))
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashBytes is FNV-1a over the column's number and the value.
func hashBytes(c Column, b []byte) uint64 {
	h := uint64(fnvOffset)
	h ^= uint64(byte(c))
	h *= fnvPrime
	for _, x := range b {
		h ^= uint64(x)
		h *= fnvPrime
	}
	return h
}

// appendValue appends column c's written value. With fold, group and role
// names are lower-cased (as hashes compare them).
func (u *User) appendValue(b []byte, c Column, fold bool) []byte {
	switch c {
	case UserName:
		return append(b, u.Name...)
	case LoginID:
		return append(b, u.LoginID...)
	case Language:
		return append(b, u.Language...)
	case Email:
		return append(b, u.Email...)
	case ValidFrom:
		if u.ValidFrom.IsZero() {
			return b
		}
		return u.ValidFrom.AppendFormat(b, DateLayout)
	case PhoneMapping:
		return appendSorted(b, u.Phones, ';', false)
	case Password:
		return append(b, u.PasswordMD5...)
	case ChangePassword:
		return appendFlag(b, u.ChangePassword)
	case Groups:
		return appendSorted(b, u.Groups, ';', fold)
	case Roles:
		return appendSorted(b, u.Roles, '\n', fold)
	case RecordingMode:
		return append(b, u.RecordingMode...)
	case TimeZone:
		return append(b, u.TimeZone...)
	case CRMUserID:
		return append(b, u.CRMUserID...)
	case Voice:
		return appendFlag(b, u.Voice)
	case InstantMessaging:
		return appendFlag(b, u.InstantMessaging)
	case Video:
		return appendFlag(b, u.Video)
	case DesktopScreen:
		return appendFlag(b, u.DesktopScreen)
	case Custom0, Custom1, Custom2, Custom3, Custom4:
		return append(b, u.Custom[c-Custom0]...)
	case PromptInbound:
		return appendFlag(b, u.PromptInbound)
	case PromptConference:
		return appendFlag(b, u.PromptConference)
	case InboundFile:
		return append(b, u.InboundFile...)
	case ConferenceFile:
		return append(b, u.ConferenceFile...)
	case ConferenceMessage:
		return append(b, u.ConferenceMessage...)
	default:
		return b
	}
}

func appendFlag(b []byte, on bool) []byte {
	if on {
		return append(b, '1')
	}
	return append(b, '0')
}

// appendSorted appends a list in a stable order (case-insensitive), so that
// the same set always reads the same; fold lower-cases it too.
func appendSorted(b []byte, list []string, sep byte, fold bool) []byte {
	if len(list) == 0 {
		return b
	}
	var small [8]string
	sorted := append(small[:0], list...)
	if !slices.IsSortedFunc(sorted, compareFold) {
		slices.SortFunc(sorted, compareFold)
	}
	for i, s := range sorted {
		if i > 0 {
			b = append(b, sep)
		}
		start := len(b)
		b = append(b, s...)
		if fold {
			lowerASCIIInPlace(b[start:], s)
		}
	}
	return b
}

// compareFold orders by the lower-cased strings, then by the strings. It runs
// for every pair of every record's lists, so ASCII (nearly every group and
// role name) is compared in place: strings.ToLower would allocate.
func compareFold(a, b string) int {
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			return compareFoldUnicode(a, b)
		}
		if x, y := lowerASCII(x), lowerASCII(y); x != y {
			return cmp.Compare(x, y)
		}
	}
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b)) // lower-cased, the shorter is a start of the longer
	}
	return strings.Compare(a, b)
}

func compareFoldUnicode(a, b string) int {
	if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// lowerASCIIInPlace lower-cases dst, which holds s; a name with non-ASCII
// letters is lower-cased through strings.ToLower.
func lowerASCIIInPlace(dst []byte, s string) {
	for i := range len(s) {
		if s[i] >= 0x80 {
			copy(dst, strings.ToLower(s)) // same length for the letters names use
			return
		}
	}
	for i, c := range dst {
		if 'A' <= c && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
}
