package ocistore

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestBoundReferrers(t *testing.T) {
	subject := ocispec.Descriptor{Digest: digest.FromString("subject")}
	page := func(n int, annotation string) []ocispec.Descriptor {
		out := make([]ocispec.Descriptor, n)
		for i := range out {
			out[i] = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(strings.Repeat("x", i)), Size: 1}
			if annotation != "" {
				out[i].Annotations = map[string]string{"a": annotation}
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		lim   Limits
		pages [][]ocispec.Descriptor
		say   string // "" : no error
	}{
		{"within", Limits{ReferrerPages: 2, Referrers: 20}, [][]ocispec.Descriptor{page(10, ""), page(10, "")}, ""},
		{"pages", Limits{ReferrerPages: 2}, [][]ocispec.Descriptor{page(1, ""), page(1, ""), page(1, "")}, "more than 2 pages"},
		{"entries", Limits{Referrers: 15}, [][]ocispec.Descriptor{page(10, ""), page(10, "")}, "more than 15 entries"},
		{"bytes", Limits{ReferrerBytes: 64 << 10}, [][]ocispec.Descriptor{page(10, strings.Repeat("y", 8<<10))}, "more than 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got int
			fn := boundReferrers(tc.lim.withDefaults(), "reg.example:5000", subject, func(p []ocispec.Descriptor) error { got += len(p); return nil })
			var err error
			for _, p := range tc.pages {
				if err = fn(p); err != nil {
					break
				}
			}
			if tc.say == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), tc.say) || !strings.Contains(err.Error(), "reg.example:5000") ||
				!strings.Contains(err.Error(), subject.Digest.String()) || Classify(err) != KindRegistry {
				t.Fatalf("err = %v (kind %v), want ErrLimit saying %q and naming host and subject", err, Classify(err), tc.say)
			}
		})
	}
}
