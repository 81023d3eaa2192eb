package release_test

import (
	"slices"
	"testing"

	"github.com/enclave-mirror/enclave/release"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"4.15.3", false},
		{"4.16.0-rc.2", false},
		{"4.15.0-0.okd-2024-03-10-010116", false},
		{"4.16.0-okd-scos.1", false},
		{"1.0.0+build.5", false},
		{"v4.15.3", true},
		{"4.15", true},
		{"4.15.03", true},
		{"4.15.3-", true},
		{"4.15.3-rc..1", true},
		{"4.15.3-01", true},
		{"4.15.3-rc_1", true},
		{"4.15.3+", true},
		{"", true},
		{"4.15.3 ", true},
		{"99999999999999999999.0.0", true},
	}
	for _, tt := range tests {
		v, err := release.ParseVersion(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseVersion(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && v.String() != tt.in {
			t.Errorf("ParseVersion(%q).String() = %q", tt.in, v.String())
		}
	}
}

func TestVersionCompare(t *testing.T) {
	// In ascending precedence, from the SemVer 2.0.0 spec plus OpenShift cases.
	ordered := []string{
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "4.9.0", "4.10.0", "4.15.0-0.okd-2024-03-10-010116",
		"4.15.0-rc.0", "4.15.0", "4.15.10",
	}
	vs := make([]release.Version, len(ordered))
	for i, s := range ordered {
		vs[i] = release.MustParseVersion(s)
	}
	shuffled := slices.Clone(vs)
	slices.Reverse(shuffled)
	slices.SortFunc(shuffled, release.Version.Compare)
	for i := range vs {
		if shuffled[i].String() != ordered[i] {
			t.Fatalf("sorted[%d] = %s, want %s", i, shuffled[i], ordered[i])
		}
	}
	if c := release.MustParseVersion("1.0.0+a").Compare(release.MustParseVersion("1.0.0+b")); c != 0 {
		t.Errorf("build metadata must not affect precedence, got %d", c)
	}
}
