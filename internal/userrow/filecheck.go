package userrow

import (
	"fmt"
	"hash/maphash"
)

// FileCheck finds what only the whole file shows: a Login ID repeated
// (case-insensitively) and an extension given different settings by two
// records. It keeps a 64-bit hash of each Login ID and extension (about 40
// bytes a record), never the records themselves. Not safe for concurrent use.
type FileCheck struct {
	seed   maphash.Seed
	logins *fpTable[uint32] // Login ID → line of its first record
	exts   *fpTable[uint8]  // extension → packed settings
}

// Lines above this are stored as this; the message then says "or later".
const maxStoredLine = 1<<32 - 1

// NewFileCheck returns an empty FileCheck sized for about the given numbers
// of records and extensions (0 if unknown). A good estimate spares the tables
// their growing, and with it the memory that growing leaves behind.
func NewFileCheck(records, extensions int) *FileCheck {
	return &FileCheck{
		seed:   maphash.MakeSeed(),
		logins: newFPTable[uint32](records),
		exts:   newFPTable[uint8](extensions),
	}
}

// Login records that the record at line gives login (a valid Login ID), and
// returns an error Problem when an earlier record gave the same one.
func (f *FileCheck) Login(line int, login string) *Problem {
	var buf [32]byte // Login IDs are ASCII and at most 32 bytes once valid
	key := buf[:0]
	for i := range len(login) {
		c := login[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		key = append(key, c)
	}
	stored := min(line, maxStoredLine)
	first, dup := f.logins.getOrPut(maphash.Bytes(f.seed, key), uint32(stored))
	if !dup {
		return nil
	}
	msg := fmt.Sprintf("duplicate Login ID, first at line %d", first)
	if first == maxStoredLine {
		msg = fmt.Sprintf("duplicate Login ID, first at line %d or later", first)
	}
	return &Problem{Column: LoginID, Message: msg}
}

// Extensions records the settings a valid record gives the extensions of its
// Phone Mapping, and returns a warning for each extension an earlier record
// gave other settings: the later record's settings win.
func (f *FileCheck) Extensions(u *User) []Problem {
	if len(u.Phones) == 0 {
		return nil
	}
	packed := packSettings(u.Extension())
	var warns []Problem
	for _, p := range u.Phones {
		prev, seen := f.exts.getOrPut(maphash.String(f.seed, p), packed)
		if seen && prev != packed {
			warns = append(warns, Problem{Column: PhoneMapping, Message: fmt.Sprintf(
				"extension %q was given other recording settings by an earlier record; this record's settings win", p)})
			f.exts.set(maphash.String(f.seed, p), packed)
		}
	}
	return warns
}

func packSettings(s ExtensionSettings) uint8 {
	var v uint8
	switch s.RecordingMode {
	case "on-demand":
		v = 1 << 4
	case "manual":
		v = 2 << 4
	case "no":
		v = 3 << 4
	}
	for i, on := range []bool{s.Voice, s.InstantMessaging, s.Video, s.DesktopScreen} {
		if on {
			v |= 1 << i
		}
	}
	return v
}
