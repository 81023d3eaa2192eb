package imageset

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Version
		wantErr bool
	}{
		{name: "release", in: "4.15.3", want: Version{Major: 4, Minor: 15, Patch: 3}},
		{name: "prerelease and build", in: "4.16.0-rc.1+abc", want: Version{Major: 4, Minor: 16, Pre: []string{"rc", "1"}, Build: "abc"}},
		{name: "two parts", in: "4.15", wantErr: true},
		{name: "v prefix", in: "v4.15.0", wantErr: true},
		{name: "leading zero", in: "4.05.0", wantErr: true},
		{name: "empty prerelease", in: "4.15.0-", wantErr: true},
		{name: "overflow", in: "99999999999999999999.0.0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVersion(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidVersion) {
					t.Fatalf("ParseVersion(%q) = %v, %v; want ErrInvalidVersion", tt.in, got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseVersion(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q", got.String())
			}
		})
	}
}

func TestVersionCompare(t *testing.T) {
	// Ascending order from semver.org section 11, plus numeric comparison.
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0", "2.0.0"}
	for i := range order {
		for j := range order {
			a, b := mustVersion(t, order[i]), mustVersion(t, order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%s vs %s = %d, want %d", a, b, got, want)
			}
		}
	}
	if c := mustVersion(t, "1.0.0+a").Compare(mustVersion(t, "1.0.0+b")); c != 0 {
		t.Errorf("build metadata compared: %d", c)
	}
}

func mustVersion(t *testing.T, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
