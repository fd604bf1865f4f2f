package userrow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/userrow"
)

// record returns 27 positional fields with a valid user name and Login ID and
// the given columns set.
func record(set map[userrow.Column]string) []string {
	f := make([]string, userrow.NumColumns)
	f[userrow.UserName] = "Kovács Péter"
	f[userrow.LoginID] = "kp"
	for c, v := range set {
		f[c] = v
	}
	return f
}

func TestValidateColumns(t *testing.T) {
	t.Parallel()
	v := userrow.NewValidator(userrow.Options{Roles: []string{"agent", "Supervisor"}})
	date := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		col     userrow.Column
		in      string
		want    func(u userrow.User) any // the normalised value, when valid
		wantVal any
		wantErr string
	}{
		{userrow.UserName, strings.Repeat("é", 64), func(u userrow.User) any { return len([]rune(u.Name)) }, 64, ""},
		{userrow.UserName, strings.Repeat("é", 65), nil, nil, "longer than 64 characters"},
		{userrow.LoginID, "john.doe@example.com", func(u userrow.User) any { return u.LoginID }, "john.doe@example.com", ""},
		{userrow.LoginID, "john_doe", nil, nil, "only letters, digits, @ and . are allowed"},
		{userrow.LoginID, "jóska", nil, nil, "only letters, digits, @ and . are allowed"},
		{userrow.LoginID, strings.Repeat("a", 33), nil, nil, "longer than 32 characters"},
		{userrow.Language, "FR-ca", func(u userrow.User) any { return u.Language }, "fr_CA", ""},
		{userrow.Language, "HU", func(u userrow.User) any { return u.Language }, "hu", ""},
		{userrow.Language, "xx", nil, nil, `"xx" is not a supported language: use en, hu, de, fr or fr_CA`},
		{userrow.Email, "a.b@example.co.uk", func(u userrow.User) any { return u.Email }, "a.b@example.co.uk", ""},
		{userrow.Email, "not-an-email", nil, nil, `"not-an-email" is not an e-mail address: write one address such as name@example.com`},
		{userrow.Email, "a@b@example.com", nil, nil, `"a@b@example.com" is not an e-mail address: write one address such as name@example.com`},
		{userrow.Email, "a@b.c, d@e.f", nil, nil, `"a@b.c, d@e.f" is not an e-mail address: write one address such as name@example.com`},
		{userrow.Email, strings.Repeat("a", 120) + "@example.com", nil, nil, "longer than 128 characters"},
		{userrow.ValidFrom, "2025.03.01", func(u userrow.User) any { return u.ValidFrom }, date(2025, 3, 1), ""},
		{userrow.ValidFrom, "2025.03.01.", func(u userrow.User) any { return u.ValidFrom }, date(2025, 3, 1), ""},
		{userrow.ValidFrom, "2024-02-29", func(u userrow.User) any { return u.ValidFrom }, date(2024, 2, 29), ""},
		{userrow.ValidFrom, "2025/12/31", func(u userrow.User) any { return u.ValidFrom }, date(2025, 12, 31), ""},
		{userrow.ValidFrom, "2025.02.30", nil, nil, `"2025.02.30" is not a real date`},
		{userrow.ValidFrom, "2025-03-01.", nil, nil, `"2025-03-01." is not a date: write yyyy.mm.dd, e.g. 2025.03.01`},
		{userrow.ValidFrom, "31/12/2025", nil, nil, `"31/12/2025" is not a date: write yyyy.mm.dd, e.g. 2025.03.01`},
		{userrow.ValidFrom, "2025.3.1", nil, nil, `"2025.3.1" is not a date: write yyyy.mm.dd, e.g. 2025.03.01`},
		{userrow.PhoneMapping, "+36 (1) 234-5678; sip:kp@pbx.example.com;+3612345678;", func(u userrow.User) any { return u.Phones },
			[]string{"+3612345678", "sip:kp@pbx.example.com"}, ""},
		{userrow.PhoneMapping, "SIPS:a@b;tel:+361", func(u userrow.User) any { return u.Phones }, []string{"sips:a@b", "tel:+361"}, ""},
		{userrow.PhoneMapping, "12ab34", nil, nil, `"12ab34" is not a phone number or a sip:, sips: or tel: URI`},
		{userrow.PhoneMapping, "123+4", nil, nil, `"123+4" is not a phone number or a sip:, sips: or tel: URI`},
		{userrow.PhoneMapping, "sip:", nil, nil, `"sip:" is not a phone number or a sip:, sips: or tel: URI`},
		{userrow.Password, "5F4DCC3B5AA765D61D8327DEB882CF99", func(u userrow.User) any { return u.PasswordMD5 }, "5f4dcc3b5aa765d61d8327deb882cf99", ""},
		{userrow.Password, "5f4dcc3b5aa765d61d8327deb882cf9", nil, nil, "not an MD5 hash: write 32 hexadecimal digits, or leave it empty to keep the current password"},
		{userrow.ChangePassword, "1", func(u userrow.User) any { return u.ChangePassword }, true, ""},
		{userrow.ChangePassword, "yes", nil, nil, `"yes" is not a flag: write 1 or 0`},
		{userrow.Groups, "Sales; Budapest;sales;;Support", func(u userrow.User) any { return u.Groups }, []string{"Sales", "Budapest", "Support"}, ""},
		{userrow.Groups, strings.Repeat("g", 65), nil, nil, `group "gggggggggggggggggggg…" is longer than 64 characters`},
		{userrow.Roles, "agent\r\nSUPERVISOR\n\n", func(u userrow.User) any { return u.Roles }, []string{"agent", "Supervisor"}, ""},
		{userrow.Roles, "agent\nsuperuser", nil, nil, `unknown role "superuser": add it to the tenant's role catalog or correct the name`},
		{userrow.RecordingMode, "On-Demand", func(u userrow.User) any { return u.RecordingMode }, "on-demand", ""},
		{userrow.RecordingMode, "always", nil, nil, `"always" is not a recording mode: use full, on-demand, manual or no`},
		{userrow.TimeZone, "Europe/Stockholm", func(u userrow.User) any { return u.TimeZone }, "Europe/Stockholm", ""},
		{userrow.TimeZone, "Mars/Olympus", nil, nil, `"Mars/Olympus" is not a time zone ID: use an ID such as Europe/Stockholm`},
		{userrow.TimeZone, "Local", nil, nil, `"Local" is not a time zone ID: use an ID such as Europe/Stockholm`},
		{userrow.CRMUserID, strings.Repeat("1", 65), nil, nil, "longer than 64 characters"},
		{userrow.Voice, "0", func(u userrow.User) any { return u.Voice }, false, ""},
		{userrow.DesktopScreen, "2", nil, nil, `"2" is not a flag: write 1 or 0`},
		{userrow.Custom3, "free, text; \"quoted\"", func(u userrow.User) any { return u.Custom[3] }, "free, text; \"quoted\"", ""},
		{userrow.Custom0, strings.Repeat("x", 257), nil, nil, "longer than 256 characters"},
		{userrow.PromptConference, "1", func(u userrow.User) any { return u.PromptConference }, true, ""},
		{userrow.InboundFile, "welcome_en.wav", func(u userrow.User) any { return u.InboundFile }, "welcome_en.wav", ""},
		{userrow.InboundFile, "../etc/passwd", nil, nil, `"../etc/passwd" is not a plain file name: no /, \ or ..`},
		{userrow.ConferenceFile, `a\b.wav`, nil, nil, `"a\\b.wav" is not a plain file name: no /, \ or ..`},
		{userrow.ConferenceMessage, strings.Repeat("m", 513), nil, nil, "longer than 512 characters"},
		// A report's formula guard is dropped on import.
		{userrow.PhoneMapping, "'+3612345", func(u userrow.User) any { return u.Phones }, []string{"+3612345"}, ""},
		{userrow.Custom1, "'=1+1", func(u userrow.User) any { return u.Custom[1] }, "=1+1", ""},
		{userrow.Custom1, "'plain", func(u userrow.User) any { return u.Custom[1] }, "'plain", ""},
	}
	for _, tt := range tests {
		t.Run(tt.col.String()+"/"+tt.in, func(t *testing.T) {
			t.Parallel()
			u, probs := v.Validate(userrow.Positional(), record(map[userrow.Column]string{tt.col: tt.in}))
			if tt.wantErr != "" {
				want := []userrow.Problem{{Column: tt.col, Message: tt.wantErr}}
				if diff := cmp.Diff(want, probs); diff != "" {
					t.Errorf("problems (-want +got):\n%s", diff)
				}
				if u.Given.Has(tt.col) {
					t.Errorf("an invalid %s counts as given", tt.col)
				}
				return
			}
			if len(probs) > 0 {
				t.Fatalf("unexpected problems: %v", probs)
			}
			if diff := cmp.Diff(tt.wantVal, tt.want(u)); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if !u.Given.Has(tt.col) {
				t.Errorf("%s not marked as given", tt.col)
			}
		})
	}
}

func TestValidateRequiredAndEmpty(t *testing.T) {
	t.Parallel()
	v := userrow.NewValidator(userrow.Options{})
	u, probs := v.Validate(userrow.Positional(), make([]string, userrow.NumColumns))
	want := []userrow.Problem{
		{Column: userrow.UserName, Message: "required: the user's full name"},
		{Column: userrow.LoginID, Message: "required: the name the user logs in with"},
	}
	if diff := cmp.Diff(want, probs); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if u.Given != 0 {
		t.Errorf("Given = %b for an empty record", u.Given)
	}
	// Without a catalog any role name passes.
	u, probs = v.Validate(userrow.Positional(), record(map[userrow.Column]string{userrow.Roles: "anything"}))
	if len(probs) > 0 || !cmp.Equal(u.Roles, []string{"anything"}) {
		t.Errorf("no catalog: roles %v, problems %v", u.Roles, probs)
	}
	// An empty catalog knows no role.
	v = userrow.NewValidator(userrow.Options{Roles: []string{}})
	if _, probs = v.Validate(userrow.Positional(), record(map[userrow.Column]string{userrow.Roles: "agent"})); len(probs) != 1 {
		t.Errorf("empty catalog: problems %v, want one", probs)
	}
}

func TestValidateSeveralProblems(t *testing.T) {
	t.Parallel()
	v := userrow.NewValidator(userrow.Options{})
	_, probs := v.Validate(userrow.Positional(), record(map[userrow.Column]string{
		userrow.LoginID: "bad login", userrow.Voice: "x", userrow.Language: "xx",
	}))
	var cols []userrow.Column
	for _, p := range probs {
		cols = append(cols, p.Column)
	}
	if diff := cmp.Diff([]userrow.Column{userrow.LoginID, userrow.Language, userrow.Voice}, cols); diff != "" {
		t.Errorf("columns with problems (-want +got):\n%s", diff)
	}
}

func TestForCreate(t *testing.T) {
	t.Parallel()
	v := userrow.NewValidator(userrow.Options{})
	today := time.Date(2026, 11, 25, 15, 4, 5, 0, time.UTC)
	u, _ := v.Validate(userrow.Positional(), record(nil))
	got := u.ForCreate(userrow.Defaults{Today: today, TimeZone: "Europe/Budapest"})
	if got.Language != "en" || got.RecordingMode != "full" || got.TimeZone != "Europe/Budapest" {
		t.Errorf("defaults: language %q, mode %q, zone %q", got.Language, got.RecordingMode, got.TimeZone)
	}
	if !got.ValidFrom.Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ValidFrom = %v, want the import's date", got.ValidFrom)
	}
	// md5("kp")
	if got.PasswordMD5 != md5hex("kp") {
		t.Errorf("PasswordMD5 = %q, want md5 of the Login ID", got.PasswordMD5)
	}
	if !got.ChangePassword {
		t.Error("a defaulted password must force a change at next login")
	}
	// Given values stay; a given password does not force a change.
	u, _ = v.Validate(userrow.Positional(), record(map[userrow.Column]string{
		userrow.Password: strings.Repeat("a", 32), userrow.Language: "de", userrow.ChangePassword: "0",
	}))
	got = u.ForCreate(userrow.Defaults{Language: "hu"})
	if got.Language != "de" || got.PasswordMD5 != strings.Repeat("a", 32) || got.ChangePassword {
		t.Errorf("given values changed: %+v", got)
	}
}
