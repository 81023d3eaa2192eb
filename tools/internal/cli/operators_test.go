package cli

import (
	"slices"
	"testing"
)

// TestCompareVersions: versions sort by semver precedence (a prerelease
// before its release, 1.10 after 1.9), anything else after them by text.
func TestCompareVersions(t *testing.T) {
	vs := []string{"not-a-version", "1.10.0", "1.9.0", "1.0.0", "1.0.0-rc.1", "abc"}
	slices.SortStableFunc(vs, compareVersions)
	want := []string{"1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0", "abc", "not-a-version"}
	if !slices.Equal(vs, want) {
		t.Errorf("sorted %v, want %v", vs, want)
	}
}
