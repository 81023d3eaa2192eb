package format

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestCheckOmitted drives each rule of spec 7.3.1 with a manifest whose
// archive holds the index and its amd64 manifest.
func TestCheckOmitted(t *testing.T) {
	index := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 5}
	amd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("amd64"), Size: 5}
	arm := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("arm64"), Size: 5}
	held := map[digest.Digest]bool{index.Digest: true, amd.Digest: true}
	has := func(d digest.Digest) bool { return held[d] }
	root := func(desc ocispec.Descriptor, omitted ...ocispec.Descriptor) Root {
		return Root{Descriptor: desc, Omitted: omitted}
	}
	many := make([]ocispec.Descriptor, MaxOmittedPerRoot+1)
	for i := range many {
		many[i] = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(strings.Repeat("x", i+1)), Size: 1}
	}
	list := index
	list.MediaType = mediaTypeDockerManifestList
	tests := []struct {
		name    string
		m       Manifest
		wantErr string
	}{
		{"an index omitting a child it lists", Manifest{Roots: []Root{root(index, arm)}}, ""},
		{"a Docker manifest list", Manifest{Roots: []Root{root(list, arm)}}, ""},
		{"nothing omitted", Manifest{Roots: []Root{root(amd)}}, ""},
		{"not an index", Manifest{Roots: []Root{root(amd, arm)}}, "is not an image index"},
		{"the index is a prerequisite", Manifest{Roots: []Root{root(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("elsewhere")}, arm)}}, "is not in the archive"},
		{"an omitted child the archive holds", Manifest{Roots: []Root{root(index, amd)}}, "is in the archive"},
		{"an omitted child that is a prerequisite", Manifest{Roots: []Root{root(index, arm)}, Delta: &Delta{Prerequisites: []Prerequisite{{Descriptor: arm}}}}, "is also a prerequisite"},
		{"listed twice", Manifest{Roots: []Root{root(index, arm, arm)}}, "listed twice"},
		{"the root itself", Manifest{Roots: []Root{root(index, index)}}, "the root itself"},
		{"not canonical", Manifest{Roots: []Root{root(index, ocispec.Descriptor{Digest: "sha256:ABC"})}}, "omitted 0"},
		{"negative size", Manifest{Roots: []Root{root(index, ocispec.Descriptor{Digest: arm.Digest, Size: -1})}}, "negative size"},
		{"too many", Manifest{Roots: []Root{root(index, many...)}}, "above 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOmitted(&tt.m, has)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrMalformed saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestWriterRefusesOmittedInArchive: Close refuses a manifest breaking
// 7.3.1.
func TestWriterRefusesOmittedInArchive(t *testing.T) {
	s := &vsink{}
	w, err := NewWriter(s, WriterOptions{Archive: ArchiveID{1}})
	if err != nil {
		t.Fatal(err)
	}
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	for _, b := range [][]byte{idx, []byte("child")} {
		bw, err := w.Blob(digest.FromBytes(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		bw.Write(b)
		if err := bw.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	r := rootOf(idx, ocispec.MediaTypeImageIndex)
	r.Omitted = []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("child"), Size: 5}}
	if err := w.Close(&Manifest{Roots: []Root{r}}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "is in the archive") {
		t.Fatalf("Close = %v, want the omitted child refused", err)
	}
}
