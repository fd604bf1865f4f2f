package feed

import "github.com/userimport/userimport/internal/postgres"

// Change is a change of a feed's settings: the JSON body of POST /v1/feeds
// (name and schedule required) and PATCH /v1/feeds/{name} (only the fields
// given change), and what importctl feeds add and update make of their
// flags.
type Change struct {
	Name                 *string   `json:"name"`
	Prefix               *string   `json:"prefix"`
	Schedule             *string   `json:"schedule"`
	TimeZone             *string   `json:"time_zone"`
	Delimiter            *string   `json:"delimiter"`
	Header               *string   `json:"header"`
	Mode                 *string   `json:"mode"`
	MaxDeactivatePercent *float64  `json:"max_deactivate_percent"`
	MaxDeactivateCount   *int      `json:"max_deactivate_count"` // -1: no count limit
	Notify               *[]string `json:"notify"`
	StaleAfterDays       *int      `json:"stale_after_days"` // 0: no warning
	Enabled              *bool     `json:"enabled"`
}

// Apply sets the given fields on f and checks the result.
func (c *Change) Apply(f *postgres.Feed) error {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&f.Name, c.Name)
	set(&f.Prefix, c.Prefix)
	set(&f.Schedule, c.Schedule)
	set(&f.TimeZone, c.TimeZone)
	set(&f.Delimiter, c.Delimiter)
	set(&f.Header, c.Header)
	set(&f.Mode, c.Mode)
	if c.MaxDeactivatePercent != nil {
		f.MaxDeactivatePercent = *c.MaxDeactivatePercent
	}
	if c.MaxDeactivateCount != nil {
		f.MaxDeactivateCount = c.MaxDeactivateCount
		if *c.MaxDeactivateCount < 0 {
			f.MaxDeactivateCount = nil
		}
	}
	if c.Notify != nil {
		f.Notify = *c.Notify
	}
	if c.StaleAfterDays != nil {
		f.StaleAfterDays = c.StaleAfterDays
		if *c.StaleAfterDays == 0 {
			f.StaleAfterDays = nil
		}
	}
	if c.Enabled != nil {
		f.Enabled = *c.Enabled
	}
	Normalize(f)
	return Validate(f)
}

// New is a feed with the defaults, to Apply a creation's change to.
func New(tenant string) postgres.Feed {
	return postgres.Feed{Tenant: tenant, MaxDeactivatePercent: DefaultMaxDeactivatePercent, Enabled: true}
}
