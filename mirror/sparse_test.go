package mirror

import (
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/imageset"
)

func TestSparseChildren(t *testing.T) {
	m := func(name, os, arch string) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(name), Size: 1}
		if os != "" {
			d.Platform = &ocispec.Platform{OS: os, Architecture: arch}
		}
		return d
	}
	amd, armv7, arm64, att := m("amd", "linux", "amd64"), m("armv7", "linux", "arm"), m("arm64", "linux", "arm64"), m("attestation", "", "")
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("subject"), Size: 1}
	armv7.Platform.Variant = "v7"
	idx := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("idx")}
	index := ocispec.Index{Manifests: []ocispec.Descriptor{amd, armv7, arm64, att}, Subject: &subject}
	tests := []struct {
		name      string
		platforms []imageset.PlatformFilter
		want      []ocispec.Descriptor
		wantErr   error
	}{
		{"one platform, the subject kept, the attestation left", []imageset.PlatformFilter{{OS: "linux", Architecture: "amd64"}}, []ocispec.Descriptor{amd, subject}, nil},
		{"any variant of an architecture", []imageset.PlatformFilter{{OS: "linux", Architecture: "arm"}, {OS: "linux", Architecture: "arm64"}}, []ocispec.Descriptor{armv7, arm64, subject}, nil},
		{"no platform of the index", []imageset.PlatformFilter{{OS: "linux", Architecture: "s390x"}}, nil, ErrNoPlatform},
		{"os matters", []imageset.PlatformFilter{{OS: "windows", Architecture: "amd64"}}, nil, ErrNoPlatform},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sparseChildren(idx, index, tt.platforms)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d children %v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i].Digest != tt.want[i].Digest {
					t.Errorf("child %d = %s, want %s", i, got[i].Digest, tt.want[i].Digest)
				}
			}
		})
	}
}
