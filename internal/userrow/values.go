package userrow

import (
	"hash/fnv"
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
	v[UserName] = u.Name
	v[LoginID] = u.LoginID
	v[Language] = u.Language
	v[Email] = u.Email
	if !u.ValidFrom.IsZero() {
		v[ValidFrom] = u.ValidFrom.Format(DateLayout)
	}
	v[PhoneMapping] = joinSorted(u.Phones, ";")
	v[Password] = u.PasswordMD5
	v[ChangePassword] = flagValue(u.ChangePassword)
	v[Groups] = joinSorted(u.Groups, ";")
	v[Roles] = joinSorted(u.Roles, "\n")
	v[RecordingMode] = u.RecordingMode
	v[TimeZone] = u.TimeZone
	v[CRMUserID] = u.CRMUserID
	v[Voice] = flagValue(u.Voice)
	v[InstantMessaging] = flagValue(u.InstantMessaging)
	v[Video] = flagValue(u.Video)
	v[DesktopScreen] = flagValue(u.DesktopScreen)
	for i, c := range u.Custom {
		v[Custom0+Column(i)] = c
	}
	v[PromptInbound] = flagValue(u.PromptInbound)
	v[PromptConference] = flagValue(u.PromptConference)
	v[InboundFile] = u.InboundFile
	v[ConferenceFile] = u.ConferenceFile
	v[ConferenceMessage] = u.ConferenceMessage
	return v
}

func flagValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// joinSorted joins a list in a stable order (case-insensitive), so that the
// same set always reads the same.
func joinSorted(list []string, sep string) string {
	if len(list) == 0 {
		return ""
	}
	sorted := slices.Clone(list)
	slices.SortFunc(sorted, func(a, b string) int {
		if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return strings.Join(sorted, sep)
}

// ColumnHashes returns a 64-bit hash of each column's value, lists taken as
// sets and group and role names case-insensitively (they name the same group
// or role either way). Two users with equal hashes for a column hold the same
// value there. The hash is FNV-1a: stable across processes and versions, as
// stored hashes must be.
func (u *User) ColumnHashes() [NumColumns]uint64 {
	v := u.Values()
	v[Groups] = strings.ToLower(v[Groups])
	v[Roles] = strings.ToLower(v[Roles])
	var h [NumColumns]uint64
	for c := range Column(NumColumns) {
		h[c] = HashValue(c, v[c])
	}
	return h
}

// HashValue is the hash ColumnHashes gives column c holding the written value v.
func HashValue(c Column, v string) uint64 {
	f := fnv.New64a()
	f.Write([]byte{byte(c)})
	f.Write([]byte(v))
	return f.Sum64()
}
