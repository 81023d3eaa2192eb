package progress

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{10188, "9.9 KiB"},
		{1<<20 - 1, "1 MiB"}, // 1023.999 KiB rounds into the next unit
		{340 << 20, "340 MiB"},
		{34 << 20, "34 MiB"},
		{1288490188, "1.2 GiB"},
		{3650722201, "3.4 GiB"},
		{7 << 60, "7 EiB"},
		{math.MaxInt64, "8 EiB"},
		{-1536, "-1.5 KiB"},
		{math.MinInt64, "-8 EiB"},
	}
	for _, tt := range tests {
		if got := HumanBytes(tt.n); got != tt.want {
			t.Errorf("HumanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr string // substring of the error; "" for success
	}{
		{"bytes", "123", 123, ""},
		{"zero", "0", 0, ""},
		{"zero with unit", "0GiB", 0, ""},
		{"B", "512B", 512, ""},
		{"MiB", "700MiB", 700 << 20, ""},
		{"GiB", "4GiB", 4 << 30, ""},
		{"single letter is binary", "4G", 4 << 30, ""},
		{"K", "1K", 1024, ""},
		{"kubernetes Gi", "4Gi", 4 << 30, ""},
		{"MB is decimal", "500MB", 500e6, ""},
		{"kB is decimal", "1kB", 1000, ""},
		{"case-insensitive", "4gib", 4 << 30, ""},
		{"fraction", "1.5GiB", 1610612736, ""},
		{"decimal fraction", "4.7GB", 4700000000, ""},
		{"fraction rounds down", "1.3GiB", 1395864371, ""}, // 1395864371.2
		{"tiny fraction", "0.0001K", 0, ""},
		{"space before unit", "4 GiB", 4 << 30, ""},
		{"surrounding space", " 4GiB\t", 4 << 30, ""},
		{"HumanBytes output", "1.2 GiB", 1288490188, ""},
		{"largest", "9223372036854775807", math.MaxInt64, ""},
		{"7 EiB", "7EiB", 7 << 60, ""},
		{"leading zeros", "0010", 10, ""},

		{"empty", "", 0, "empty"},
		{"only space", "  ", 0, "empty"},
		{"negative", "-1", 0, "cannot be negative"},
		{"plus", "+1", 0, "no sign"},
		{"unknown unit", "10XB", 0, `unknown unit "XB"`},
		{"bits are not bytes", "10Gbit", 0, `unknown unit "Gbit"`},
		{"exponent", "1e9", 0, `unknown unit "e9"`},
		{"underscore", "1_000", 0, `unknown unit "_000"`},
		{"comma", "1,5GiB", 0, `unknown unit ",5GiB"`},
		{"inner space in number", "1 000", 0, `unknown unit "000"`},
		{"no number", "GiB", 0, "must start with a number"},
		{"leading dot", ".5G", 0, "digits on both sides"},
		{"trailing dot", "1.G", 0, "digits on both sides"},
		{"fraction of a byte", "1.5", 0, "a fraction of a byte"},
		{"fraction of a B", "1.5B", 0, "a fraction of a byte"},
		{"overflow digits", "99999999999999999999", 0, "larger than the largest size"},
		{"overflow by one", "9223372036854775808", 0, "larger than the largest size"},
		{"overflow unit", "8EiB", 0, "larger than the largest size"},
		{"overflow fraction", "8.5EiB", 0, "larger than the largest size"},
		{"too long", strings.Repeat("1", 65), 0, "longer than any size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBytes(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseBytes(%q) = %d, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidSize) {
					t.Errorf("error %v does not wrap ErrInvalidSize", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBytes(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseBytes(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// TestParseBytesErrorText pins one whole message: it is what a person sees
// after a mistyped flag.
func TestParseBytesErrorText(t *testing.T) {
	_, err := ParseBytes("10XB")
	want := `progress: invalid size "10XB": unknown unit "XB" (use B, KiB, MiB, GiB, TiB; KB, MB, GB, TB; or K, M, G, T for binary)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// Every size HumanBytes prints can be given back as a flag.
func TestParseBytesReadsHumanBytes(t *testing.T) {
	for _, n := range []int64{0, 1, 999, 1024, 1536, 1<<20 - 1, 123456789, 1288490188, 5 << 40, math.MaxInt64 / 2} {
		s := HumanBytes(n)
		got, err := ParseBytes(s)
		if err != nil {
			t.Errorf("ParseBytes(HumanBytes(%d) = %q): %v", n, s, err)
			continue
		}
		if diff := math.Abs(float64(got-n)) / math.Max(float64(n), 1); diff > 0.05 {
			t.Errorf("ParseBytes(%q) = %d, %.1f%% off %d", s, got, diff*100, n)
		}
	}
}
