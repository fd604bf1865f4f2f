package config_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/config"
)

// The security settings: each wrong value is refused at start with an error
// naming the variable and saying what to set instead.
func TestSecuritySettingsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"TRUSTED_PROXIES", "10.0.0.0/33", "TRUSTED_PROXIES"},
		{"TRUSTED_PROXIES", "proxy.internal", "CIDR"},
		{"S3_EVENTS_SECRET", "events-secret-31-characters-lon", "32 characters"},
		{"PUBLIC_URL", "imports.example.com", "https://"},
		{"UPLOAD_MIN_RATE", "32KiB", "whole number"},
		{"UPLOADS_IN_FLIGHT", "-1", "whole number"},
		{"TENANT_UPLOADS_IN_FLIGHT", "four", "whole number"},
		{"PUBLIC_URL", "https://imports.example.com/userimport", "no path"},
		{"PUBLIC_URL", "ftp://imports.example.com", "https://"},
		{"S3_EVENTS_PREFIX", "uploads/x", "end with /"}, // tenant acme could name uploads/xacme/…
		{"S3_EVENTS_PREFIX", "incoming/../x/", "no empty, . or .. segment"},
		{"S3_EVENTS_PREFIX", "/incoming/", "no empty, . or .. segment"},
		{"S3_EVENTS_PREFIX", "incoming//", "no empty, . or .. segment"},
		{"S3_EVENTS_PREFIX", "uploads/", "uploads/"},    // the events endpoint would import every upload again
		{"S3_EVENTS_PREFIX", "uploads/in/", "uploads/"}, // and tenant "in"'s uploads would be its events
		{"METRICS_TOKEN", "metrics-token", "32 characters"},
	} {
		_, err := config.Load(config.Producer, env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: error %v, want one naming %s and saying %q", tc.name, tc.value, err, tc.name, tc.want)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.Producer, env(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7 ,2001:db8::/32"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if diff := cmp.Diff(want, c.Producer.TrustedProxies, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("TRUSTED_PROXIES (-want +got):\n%s", diff)
	}
}

func TestEventsPrefixAccepted(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "incoming/", "drop/box/", "upl/"} {
		if _, err := config.Load(config.Producer, env(map[string]string{"S3_EVENTS_PREFIX": v})); err != nil {
			t.Errorf("S3_EVENTS_PREFIX=%q: %v", v, err)
		}
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.Producer, env(map[string]string{"PUBLIC_URL": "https://imports.example.com/"}))
	if err != nil || c.PublicURL != "https://imports.example.com" {
		t.Errorf("PUBLIC_URL: %q (%v), want https://imports.example.com", c.PublicURL, err)
	}
}

func TestUploadLimitsDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.Producer, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Producer.UploadMinRate != config.DefaultUploadMinRate || c.Producer.UploadsInFlight != config.DefaultUploadsInFlight ||
		c.Producer.TenantUploadsInFlight != config.DefaultTenantUploadsInFlight {
		t.Errorf("upload limits %d, %d, %d; want the defaults", c.Producer.UploadMinRate, c.Producer.UploadsInFlight, c.Producer.TenantUploadsInFlight)
	}
}
