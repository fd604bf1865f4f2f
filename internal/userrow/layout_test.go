package userrow_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/userrow"
)

func TestDetectLayout(t *testing.T) {
	t.Parallel()
	data := record(nil)
	tests := []struct {
		name       string
		first      []string
		mode       userrow.HeaderMode
		wantHeader bool
		wantFields int
		want       map[int]userrow.Column // spot checks: field → column
		wantErr    string
	}{
		{"positional data", data, userrow.HeaderAuto, false, 27, map[int]userrow.Column{0: userrow.UserName, 26: userrow.ConferenceMessage}, ""},
		{"full header", userrow.Names(), userrow.HeaderAuto, true, 27, map[int]userrow.Column{1: userrow.LoginID}, ""},
		{"reordered, variants, any case", []string{"LoginID", "E-MAIL ADDRESS", "user_name", "Valid From", "password"}, userrow.HeaderAuto, true, 5,
			map[int]userrow.Column{0: userrow.LoginID, 1: userrow.Email, 2: userrow.UserName, 3: userrow.ValidFrom, 4: userrow.Password}, ""},
		{"report columns ignored", append(userrow.Names(), "Line", "Errors"), userrow.HeaderAuto, true, 29,
			map[int]userrow.Column{27: userrow.NoColumn, 28: userrow.NoColumn}, ""},
		{"typo is a file error", []string{"User name", "Login ID", "Emial"}, userrow.HeaderAuto, false, 0, nil,
			`header row: unknown column "Emial" (check the spelling against the format's column names)`},
		{"duplicate", []string{"User name", "Login ID", "Email", "E-mail"}, userrow.HeaderAuto, false, 0, nil,
			`header row: column "E-mail" appears more than once`},
		{"absent columns are empty", []string{"User name", "Email"}, userrow.HeaderAuto, true, 2,
			map[int]userrow.Column{1: userrow.Email}, ""},
		{"none never reads a header", userrow.Names(), userrow.HeaderNone, false, 27, nil, ""},
		{"skip drops an unrecognised header", []string{"Név", "Azonosító", "x"}, userrow.HeaderSkip, true, 27, map[int]userrow.Column{2: userrow.Language}, ""},
		{"skip maps a recognised header", []string{"Login ID", "User name"}, userrow.HeaderSkip, true, 2, map[int]userrow.Column{0: userrow.LoginID}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := userrow.DetectLayout(tt.first, tt.mode)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, userrow.ErrHeader) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Header() != tt.wantHeader || l.Fields() != tt.wantFields {
				t.Errorf("header %v fields %d, want %v %d", l.Header(), l.Fields(), tt.wantHeader, tt.wantFields)
			}
			for i, c := range tt.want {
				if got := l.Column(i); got != c {
					t.Errorf("field %d → %v, want %v", i, got, c)
				}
			}
		})
	}
}

func TestValidateByHeader(t *testing.T) {
	t.Parallel()
	l, err := userrow.DetectLayout([]string{"Login ID", "Errors", "User name", "Line"}, userrow.HeaderAuto)
	if err != nil {
		t.Fatal(err)
	}
	u, probs := userrow.NewValidator(userrow.Options{}).Validate(l, []string{"kp", "some error", "Kovács Péter", "12"})
	if len(probs) > 0 {
		t.Fatalf("problems: %v", probs)
	}
	if diff := cmp.Diff([]string{"kp", "Kovács Péter"}, []string{u.LoginID, u.Name}); diff != "" {
		t.Error(diff)
	}
	if l.FieldOf(userrow.LoginID) != 0 || l.FieldOf(userrow.Email) != -1 {
		t.Errorf("FieldOf: %d %d", l.FieldOf(userrow.LoginID), l.FieldOf(userrow.Email))
	}
}
