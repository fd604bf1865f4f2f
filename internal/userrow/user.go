// Package userrow holds the 27 columns of the user format: it validates and
// normalises a record's fields into a typed User, maps header rows to columns,
// and finds what only the whole file shows (duplicate Login IDs, extensions
// given conflicting settings).
//
// A record's problems are data: Validate returns them as Problems, each naming
// its column, never as an error.
package userrow

import (
	"crypto/md5" //nolint:gosec // the format stores MD5 password hashes; the default password is MD5 of the Login ID
	"encoding/hex"
	"time"
)

// ColumnSet is a set of columns, such as those a record gave a value for.
type ColumnSet uint32

// Has reports whether c is in the set.
func (s ColumnSet) Has(c Column) bool { return s&(1<<c) != 0 }

// With returns the set with c added.
func (s ColumnSet) With(c Column) ColumnSet { return s | 1<<c }

// User is one validated record with its values normalised. Only the columns in
// Given hold a value from the file; the others are zero, so that an update can
// leave them unchanged and a create can fill in defaults (see ForCreate).
type User struct {
	Name              string
	LoginID           string
	Language          string
	Email             string
	ValidFrom         time.Time // a date: midnight UTC
	Phones            []string  // normalised numbers or URIs, without duplicates
	PasswordMD5       string    // 32 lower-case hex digits
	ChangePassword    bool
	Groups            []string
	Roles             []string // as spelled in the tenant's catalog
	RecordingMode     string
	TimeZone          string
	CRMUserID         string
	Voice             bool
	InstantMessaging  bool
	Video             bool
	DesktopScreen     bool
	Custom            [5]string
	PromptInbound     bool
	PromptConference  bool
	InboundFile       string
	ConferenceFile    string
	ConferenceMessage string

	Given ColumnSet
}

// Defaults are the values a new user takes for the columns its record left
// empty. The zero value uses the format's own defaults and today's date.
type Defaults struct {
	Language      string    // else "en"
	RecordingMode string    // else "full"
	TimeZone      string    // else "UTC"
	Today         time.Time // the import's date; else the current date (UTC)
}

// ForCreate returns the user as it is created: every column the record left
// empty takes its default. A defaulted password is the MD5 hash of the Login
// ID, and then the user must change it at the next login.
func (u User) ForCreate(d Defaults) User {
	if !u.Given.Has(Language) {
		u.Language = or(d.Language, "en")
	}
	if !u.Given.Has(ValidFrom) {
		today := d.Today
		if today.IsZero() {
			today = time.Now()
		}
		y, m, day := today.Date()
		u.ValidFrom = time.Date(y, m, day, 0, 0, 0, 0, time.UTC)
	}
	if !u.Given.Has(Password) {
		u.PasswordMD5 = DefaultPassword(u.LoginID)
		u.ChangePassword = true
	}
	if !u.Given.Has(RecordingMode) {
		u.RecordingMode = or(d.RecordingMode, "full")
	}
	if !u.Given.Has(TimeZone) {
		u.TimeZone = or(d.TimeZone, "UTC")
	}
	return u
}

// DefaultPassword is the password hash a user created without one gets: the
// MD5 of the Login ID, as the format says.
func DefaultPassword(loginID string) string {
	sum := md5.Sum([]byte(loginID)) //nolint:gosec // the format's default password
	return hex.EncodeToString(sum[:])
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ExtensionSettings are what a record's Recording Mode and media flags set on
// the extensions of its Phone Mapping, with the format's defaults for columns
// it left empty.
type ExtensionSettings struct {
	RecordingMode    string
	Voice            bool
	InstantMessaging bool
	Video            bool
	DesktopScreen    bool
}

// Extension returns the settings u gives its extensions.
func (u *User) Extension() ExtensionSettings {
	return ExtensionSettings{
		RecordingMode:    or(u.RecordingMode, "full"),
		Voice:            u.Voice,
		InstantMessaging: u.InstantMessaging,
		Video:            u.Video,
		DesktopScreen:    u.DesktopScreen,
	}
}
