package mirror

import (
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/format"
)

func TestCosignSubject(t *testing.T) {
	d := digest.FromString("image")
	d512 := digest.SHA512.FromString("image")
	hex := d.Encoded()
	tests := []struct {
		name, tag string
		want      digest.Digest
	}{
		{"signature", "sha256-" + hex + ".sig", d},
		{"attestation", "sha256-" + hex + ".att", d},
		{"sbom", "sha256-" + hex + ".sbom", d},
		{"sha512", "sha512-" + d512.Encoded() + ".sig", d512},
		{"OCI referrers fallback tag", "sha256-" + hex, ""},
		{"digest tag of a digest-only image", "digest-sha256-" + hex[:32], ""},
		{"upper-case hex", "sha256-" + strings.ToUpper(hex) + ".sig", ""},
		{"short hex", "sha256-" + hex[:63] + ".sig", ""},
		{"other algorithm", "md5-" + hex[:32] + ".sig", ""},
		{"other suffix", "sha256-" + hex + ".cert", ""},
		{"no algorithm", hex + ".sig", ""},
		{"ordinary tag", "v1.sig", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cosignSubject(tt.tag)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("cosignSubject(%q) = %q, %v; want %q", tt.tag, got, ok, tt.want)
			}
			if ok {
				suffix := tt.tag[strings.LastIndex(tt.tag, "."):]
				if back := cosignTag(got, suffix); back != tt.tag {
					t.Fatalf("cosignTag(%s, %s) = %q, want %q", got, suffix, back, tt.tag)
				}
			}
		})
	}
}

func TestSplitAttached(t *testing.T) {
	img := digest.FromString("image")
	child := digest.FromString("child")
	root := func(s string, refs ...string) format.Root {
		return format.Root{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(s), Size: 1}, References: refs}
	}
	roots := []format.Root{
		root("image", "quay.io/org/app:1.0"),
		root("sig", "quay.io/org/app:"+cosignTag(img, ".sig")),
		root("child sig", "quay.io/org/app:"+cosignTag(child, ".sig")),
		// Also packed as an image of its own: it keeps that reference.
		root("att", "quay.io/org/app:"+cosignTag(img, ".att"), "quay.io/org/notes:latest"),
		// No image of quay.io/org/lone is carried: an ordinary image.
		root("lone", "quay.io/org/lone:"+cosignTag(img, ".sig")),
		// A cosign-looking tag pinned to a digest was named by the user.
		root("pinned", "quay.io/org/app:"+cosignTag(img, ".sbom")+"@"+digest.FromString("pinned").String()),
		root("referrer"),
	}
	kept, attached := splitAttached(roots)
	var keptRefs []string
	for _, r := range kept {
		keptRefs = append(keptRefs, strings.Join(r.References, ",")+"|"+r.Descriptor.Digest.String())
	}
	wantKept := []string{
		"quay.io/org/app:1.0|" + digest.FromString("image").String(),
		"quay.io/org/notes:latest|" + digest.FromString("att").String(),
		"quay.io/org/lone:" + cosignTag(img, ".sig") + "|" + digest.FromString("lone").String(),
		"quay.io/org/app:" + cosignTag(img, ".sbom") + "@" + digest.FromString("pinned").String() + "|" + digest.FromString("pinned").String(),
		"|" + digest.FromString("referrer").String(),
	}
	if !slices.Equal(keptRefs, wantKept) {
		t.Fatalf("kept:\n%s\nwant:\n%s", strings.Join(keptRefs, "\n"), strings.Join(wantKept, "\n"))
	}
	var got []string
	for _, a := range attached {
		got = append(got, a.ref()+"|"+a.subject.String()+"|"+a.desc.Digest.String())
	}
	want := []string{
		"quay.io/org/app:" + cosignTag(img, ".sig") + "|" + img.String() + "|" + digest.FromString("sig").String(),
		"quay.io/org/app:" + cosignTag(child, ".sig") + "|" + child.String() + "|" + digest.FromString("child sig").String(),
		"quay.io/org/app:" + cosignTag(img, ".att") + "|" + img.String() + "|" + digest.FromString("att").String(),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("attached:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if roots[3].References[1] != "quay.io/org/notes:latest" || len(roots[3].References) != 2 {
		t.Fatal("splitAttached changed its input")
	}
}

func TestIsSignatureManifest(t *testing.T) {
	tests := []struct {
		name, manifest string
		want           bool
	}{
		{"cosign simple signing layer", `{"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json"}]}`, true},
		{"cosign OCI 1.1 signature", `{"artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","layers":[]}`, true},
		{"sigstore bundle", `{"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`, true},
		{"notary signature", `{"config":{"mediaType":"application/vnd.cncf.notary.signature"}}`, true},
		{"SBOM", `{"artifactType":"application/spdx+json","layers":[{"mediaType":"application/spdx+json"}]}`, false},
		{"image", `{"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip"}]}`, false},
		{"not JSON", `{`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isSignatureManifest([]byte(tt.manifest)); got != tt.want {
				t.Fatalf("isSignatureManifest = %v, want %v", got, tt.want)
			}
		})
	}
}
