package releasetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
)

// Compression of a synthetic payload's layers.
type Compression string

// Compressions.
const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	None Compression = "none"
)

// DefaultComponents are the component names a synthetic release carries
// unless ReleaseSpec.Components says otherwise.
var DefaultComponents = []string{"cli", "cluster-version-operator", "etcd", "machine-os-content"}

// ReleaseSpec describes one synthetic release.
type ReleaseSpec struct {
	Version string
	// Arch is amd64, arm64, ppc64le, s390x, or multi (an index with
	// linux/amd64 and linux/arm64 manifests).
	Arch string
	// Components are the image-references tag names (DefaultComponents if
	// empty). Each becomes a small image pushed to Generator.Components.
	Components []string
	// Compression of the payload layers (gzip if empty).
	Compression Compression
	// Filler adds a lower layer of this many random bytes, so readers must
	// skip a real layer (0 for none).
	Filler int
}

// Generator pushes synthetic releases.
type Generator struct {
	// Payloads receives payload images; PayloadRepo is its name in
	// references (host/repo), used for the returned Reference.
	Payloads    oras.Target
	PayloadRepo string
	// Components receives component images; ComponentRepo is its name in
	// image-references.
	Components    oras.Target
	ComponentRepo string
	// Seed makes the random bytes reproducible.
	Seed uint64
	// KubeVirt adds the installer's CoreOS boot-image ConfigMap
	// (release.BootImagesPath) to every payload, naming a KubeVirt container
	// image pushed to Components for x86_64 and s390x.
	KubeVirt bool
}

// PushedRelease is what Generator.Push pushed.
type PushedRelease struct {
	Version string
	Arch    string
	// Descriptor is the payload's (manifest or index).
	Descriptor ocispec.Descriptor
	// Reference is PayloadRepo@digest.
	Reference string
	// Tag is the tag given in Payloads: <version>-<x86_64|aarch64|...>.
	Tag string
	// Components maps tag name to component reference (ComponentRepo@digest).
	Components map[string]string
	// ImageReferences and ReleaseMetadata are the files in the payload.
	ImageReferences []byte
	ReleaseMetadata []byte
	// KubeVirt is the KubeVirt container image reference (ComponentRepo@digest)
	// the boot-image ConfigMap names, with Generator.KubeVirt.
	KubeVirt string
}

var releaseArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x", "multi": "multi"}

// Push builds and pushes one release: components first, then payload
// blobs, manifests, index (multi), and the tag.
func (g *Generator) Push(ctx context.Context, spec ReleaseSpec) (*PushedRelease, error) {
	ra, ok := releaseArch[spec.Arch]
	if !ok {
		return nil, fmt.Errorf("releasetest: unknown arch %q", spec.Arch)
	}
	names := spec.Components
	if len(names) == 0 {
		names = DefaultComponents
	}
	rng := rand.New(rand.NewPCG(g.Seed, hash64(spec.Version+spec.Arch)))
	out := &PushedRelease{Version: spec.Version, Arch: spec.Arch, Tag: spec.Version + "-" + ra, Components: map[string]string{}}

	type tagT struct {
		Name string `json:"name"`
		From struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"from"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	var tags []tagT
	for _, n := range names {
		desc, err := g.pushComponent(ctx, rng, spec, n)
		if err != nil {
			return nil, err
		}
		ref := g.ComponentRepo + "@" + desc.Digest.String()
		out.Components[n] = ref
		t := tagT{Name: n, Annotations: map[string]string{"io.openshift.build.source-location": "https://github.com/openshift/" + n}}
		t.From.Kind, t.From.Name = "DockerImage", ref
		tags = append(tags, t)
	}
	is := map[string]any{
		"kind": "ImageStream", "apiVersion": "image.openshift.io/v1",
		"metadata": map[string]any{"name": spec.Version, "creationTimestamp": nil,
			"annotations": map[string]string{"release.openshift.io/from-image-stream": "ocp/4.x-art-latest"}},
		"spec": map[string]any{"lookupPolicy": map[string]bool{"local": false}, "tags": tags},
	}
	var err error
	if out.ImageReferences, err = json.MarshalIndent(is, "", "  "); err != nil {
		return nil, err
	}
	out.ReleaseMetadata, _ = json.Marshal(map[string]any{
		"kind": "cincinnati-metadata-v0", "version": spec.Version, "previous": []string{},
		"metadata": map[string]string{"url": "https://access.redhat.com/errata/test"},
	})
	files := []tarFile{
		{"release-manifests/", nil},
		{"release-manifests/0000_00_cluster-version-operator_00_namespace.yaml", []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: openshift-cluster-version\n")},
		{"release-manifests/image-references", out.ImageReferences},
		{"release-manifests/release-metadata", out.ReleaseMetadata},
	}
	if g.KubeVirt {
		desc, err := g.pushComponent(ctx, rng, spec, "rhcos-kubevirt")
		if err != nil {
			return nil, err
		}
		out.KubeVirt = g.ComponentRepo + "@" + desc.Digest.String()
		files = append(files, tarFile{"release-manifests/0000_50_installer_coreos-bootimages.yaml", BootImagesConfigMap(spec.Version, out.KubeVirt)})
	}
	comp := spec.Compression
	if comp == "" {
		comp = Gzip
	}
	arches := []string{spec.Arch}
	if spec.Arch == "multi" {
		arches = []string{"amd64", "arm64"}
	}
	var manifests []ocispec.Descriptor
	for _, a := range arches {
		var layers []blob
		if spec.Filler > 0 {
			data := make([]byte, spec.Filler)
			fillRand(rng, data)
			l, err := layerBlob(comp, []tarFile{{"usr/bin/filler", data}})
			if err != nil {
				return nil, err
			}
			layers = append(layers, l)
		}
		top, err := layerBlob(comp, files)
		if err != nil {
			return nil, err
		}
		layers = append(layers, top)
		md, err := pushImage(ctx, g.Payloads, a, map[string]string{"io.openshift.release": spec.Version}, layers)
		if err != nil {
			return nil, err
		}
		md.Platform = &ocispec.Platform{OS: "linux", Architecture: a}
		manifests = append(manifests, md)
	}
	desc := manifests[0]
	desc.Platform = nil
	if spec.Arch == "multi" {
		idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
		if desc, err = pushJSON(ctx, g.Payloads, ocispec.MediaTypeImageIndex, idx); err != nil {
			return nil, err
		}
	}
	if err := g.Payloads.Tag(ctx, desc, out.Tag); err != nil {
		return nil, fmt.Errorf("releasetest: tag %s: %w", out.Tag, err)
	}
	out.Descriptor = desc
	out.Reference = g.PayloadRepo + "@" + desc.Digest.String()
	return out, nil
}

// PushAll pushes a release per version for arch, all with the same options,
// and returns them by version.
func (g *Generator) PushAll(ctx context.Context, arch string, versions []string) (map[string]*PushedRelease, error) {
	out := map[string]*PushedRelease{}
	for _, v := range versions {
		r, err := g.Push(ctx, ReleaseSpec{Version: v, Arch: arch})
		if err != nil {
			return nil, err
		}
		out[v] = r
	}
	return out, nil
}

func (g *Generator) pushComponent(ctx context.Context, rng *rand.Rand, spec ReleaseSpec, name string) (ocispec.Descriptor, error) {
	data := make([]byte, 512+rng.IntN(512))
	fillRand(rng, data)
	l, err := layerBlob(Gzip, []tarFile{{"usr/bin/" + name, data}})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	arch := spec.Arch
	if arch == "multi" {
		arch = "amd64"
	}
	return pushImage(ctx, g.Components, arch, map[string]string{"io.openshift.build.name": name}, []blob{l})
}

type tarFile struct {
	name string
	data []byte // nil for a directory when name ends in "/"
}

type blob struct {
	desc   ocispec.Descriptor
	data   []byte
	diffID digest.Digest
}

func layerBlob(c Compression, files []tarFile) (blob, error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		if f.data == nil && f.name[len(f.name)-1] == '/' {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return blob{}, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return blob{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return blob{}, err
	}
	raw := tb.Bytes()
	b := blob{diffID: digest.FromBytes(raw)}
	switch c {
	case Gzip:
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return blob{}, err
		}
		b.data, b.desc.MediaType = zb.Bytes(), ocispec.MediaTypeImageLayerGzip
	case Zstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			return blob{}, err
		}
		b.data, b.desc.MediaType = enc.EncodeAll(raw, nil), ocispec.MediaTypeImageLayerZstd
		enc.Close()
	case None:
		b.data, b.desc.MediaType = raw, ocispec.MediaTypeImageLayer
	default:
		return blob{}, fmt.Errorf("releasetest: unknown compression %q", c)
	}
	b.desc.Digest, b.desc.Size = digest.FromBytes(b.data), int64(len(b.data))
	return b, nil
}

func pushImage(ctx context.Context, dst oras.Target, arch string, labels map[string]string, layers []blob) (ocispec.Descriptor, error) {
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: arch}, RootFS: ocispec.RootFS{Type: "layers"}}
	cfg.Config.Labels = labels
	var ldesc []ocispec.Descriptor
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		if err := pushBlob(ctx, dst, l.desc, l.data); err != nil {
			return ocispec.Descriptor{}, err
		}
		ldesc = append(ldesc, l.desc)
	}
	cdesc, err := pushJSON(ctx, dst, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cdesc, Layers: ldesc}
	return pushJSON(ctx, dst, ocispec.MediaTypeImageManifest, m)
}

func pushJSON(ctx context.Context, dst oras.Target, mediaType string, v any) (ocispec.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	return desc, pushBlob(ctx, dst, desc, data)
}

func pushBlob(ctx context.Context, dst oras.Target, desc ocispec.Descriptor, data []byte) error {
	ok, err := dst.Exists(ctx, desc)
	if err != nil {
		return fmt.Errorf("releasetest: exists %s: %w", desc.Digest, err)
	}
	if ok {
		return nil
	}
	if err := dst.Push(ctx, desc, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("releasetest: push %s: %w", desc.Digest, err)
	}
	return nil
}

func fillRand(rng *rand.Rand, p []byte) {
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
}

func hash64(s string) uint64 {
	d := digest.FromString(s)
	var h uint64
	for _, b := range []byte(d.Encoded()[:16]) {
		h = h<<4 | uint64(hexVal(b))
	}
	return h
}

func hexVal(b byte) byte {
	if b >= 'a' {
		return b - 'a' + 10
	}
	return b - '0'
}

// BootImagesConfigMap returns an installer coreos-bootimages ConfigMap as
// release payloads carry it, its stream naming kubevirt as the KubeVirt
// container image of x86_64 and s390x (aarch64 has none, as in RHCOS).
func BootImagesConfigMap(version, kubevirt string) []byte {
	arch := func(withKubeVirt bool) map[string]any {
		a := map[string]any{"artifacts": map[string]any{"qemu": map[string]any{"release": "417.94.202410090854-0"}}}
		if withKubeVirt {
			a["images"] = map[string]any{"kubevirt": map[string]any{"release": "417.94.202410090854-0", "image": "quay.io/openshift-release-dev/ocp-v4.0-art-dev", "digest-ref": kubevirt}}
		}
		return a
	}
	stream, _ := json.Marshal(map[string]any{
		"stream":        "rhcos-4.17",
		"metadata":      map[string]any{"last-modified": "2024-10-09T12:00:00Z", "generator": "plume cosa2stream 0.17.0+5-gd9b9c7b8"},
		"architectures": map[string]any{"x86_64": arch(true), "s390x": arch(true), "aarch64": arch(false)},
	})
	q, _ := json.Marshal(string(stream)) // a JSON string is a YAML double-quoted scalar
	return []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coreos-bootimages\n  namespace: openshift-machine-config-operator\n  annotations:\n    include.release.openshift.io/self-managed-high-availability: \"true\"\ndata:\n  releaseVersion: " + version + "\n  stream: " + string(q) + "\n")
}
