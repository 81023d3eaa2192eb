package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// Paths inside a release payload image.
const (
	ImageReferencesPath = "release-manifests/image-references"
	ReleaseMetadataPath = "release-manifests/release-metadata"
	// BootImagesPath is the installer's CoreOS boot-image ConfigMap; its
	// stream metadata names the KubeVirt container image per architecture
	// (see [KubeVirtComponents]).
	BootImagesPath = "release-manifests/0000_50_installer_coreos-bootimages.yaml"
)

// Docker media types that quay.io serves for release payloads.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// Component is one image of a release, from image-references.
type Component struct {
	// Name is the tag name in image-references (e.g. "etcd", "cli").
	Name string
	// Image is the component image pinned by digest, e.g.
	// quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:....
	Image  string
	Digest digest.Digest
}

// ReleaseMetadata is release-manifests/release-metadata.
type ReleaseMetadata struct {
	Kind     string            `json:"kind"`
	Version  string            `json:"version"`
	Previous []string          `json:"previous,omitempty"`
	Next     []string          `json:"next,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Payload is what ReadPayload found in a release payload image.
type Payload struct {
	// Descriptor is the descriptor ReadPayload was given (an index for multi).
	Descriptor ocispec.Descriptor
	// Manifest is the image manifest actually read (equal to Descriptor for
	// a single-architecture payload).
	Manifest ocispec.Descriptor
	// Version is the version in release-metadata.
	Version  Version
	Metadata ReleaseMetadata
	// Components are image-references' tags, sorted by name.
	Components []Component
	// BootImages is BootImagesPath, read only with ReadOptions.BootImages
	// (nil if the payload has none).
	BootImages []byte
}

// ReadOptions tune ReadPayload. The zero value uses the defaults.
type ReadOptions struct {
	// Arch selects the manifest of an index: the platform linux/<Arch>.
	// Empty or multi takes the first of amd64, arm64, ppc64le, s390x present
	// (a multi payload's image-references are the same in each).
	Arch Arch
	// ExpectVersion, when set, must equal release-metadata's version (the
	// version the update graph gave for this payload).
	ExpectVersion string
	// MaxFileBytes caps image-references and release-metadata
	// (default DefaultMaxReleaseFileBytes).
	MaxFileBytes int64
	// BootImages also reads BootImagesPath (optional: a payload without it
	// is read whole, then gives a nil Payload.BootImages).
	BootImages bool
	// MaxManifestBytes caps manifests and indexes (DefaultMaxManifestBytes).
	MaxManifestBytes int64
	// MaxLayerBytes caps one compressed layer (DefaultMaxLayerBytes).
	MaxLayerBytes int64
	// MaxDecompressedBytes caps decompressed bytes over all layers
	// (DefaultMaxDecompressedBytes).
	MaxDecompressedBytes int64
}

func (o *ReadOptions) defaults() {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxReleaseFileBytes
	}
	if o.MaxManifestBytes <= 0 {
		o.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if o.MaxLayerBytes <= 0 {
		o.MaxLayerBytes = DefaultMaxLayerBytes
	}
	if o.MaxDecompressedBytes <= 0 {
		o.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
}

// ReadPayload reads the release payload image desc from src (any oras
// read-only target or storage) and returns its version and components.
//
// It walks the layers from the top down, streaming each one (gzip, zstd or
// plain tar, detected from the bytes), and stops decompressing as soon as both
// release-manifests files are found; the rest of that layer's compressed
// bytes are still read, without decompression, so that the layer digest is
// verified before anything from it is trusted. Memory stays bounded by the
// file cap; whiteouts are not interpreted (release payloads do not use them
// for release-manifests).
func ReadPayload(ctx context.Context, src content.ReadOnlyStorage, desc ocispec.Descriptor, opts ReadOptions) (*Payload, error) {
	opts.defaults()
	p := &Payload{Descriptor: desc}
	mdesc, err := pickManifest(ctx, src, desc, opts)
	if err != nil {
		return nil, err
	}
	p.Manifest = mdesc
	raw, err := fetchCapped(ctx, src, mdesc, opts.MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("release: payload %s: manifest: %w", desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: payload %s: manifest: %w", ErrInvalidPayload, desc.Digest, err)
	}
	if len(m.Layers) == 0 || len(m.Layers) > MaxPayloadLayers {
		return nil, fmt.Errorf("%w: payload %s: %d layers (want 1 to %d)", ErrInvalidPayload, desc.Digest, len(m.Layers), MaxPayloadLayers)
	}
	budget := opts.MaxDecompressedBytes
	files := map[string][]byte{}
	wanted := []string{ImageReferencesPath, ReleaseMetadataPath}
	if opts.BootImages {
		wanted = append(wanted, BootImagesPath)
	}
	for i := len(m.Layers) - 1; i >= 0 && len(files) < len(wanted); i-- {
		if err := scanLayer(ctx, src, m.Layers[i], opts, &budget, wanted, files); err != nil {
			return nil, fmt.Errorf("release: payload %s: layer %d (%s): %w", desc.Digest, i, m.Layers[i].Digest, err)
		}
	}
	refs, ok := files[ImageReferencesPath]
	if !ok {
		return nil, fmt.Errorf("%w: payload %s has no %s", ErrInvalidPayload, desc.Digest, ImageReferencesPath)
	}
	meta, ok := files[ReleaseMetadataPath]
	if !ok {
		return nil, fmt.Errorf("%w: payload %s has no %s", ErrInvalidPayload, desc.Digest, ReleaseMetadataPath)
	}
	if err := json.Unmarshal(meta, &p.Metadata); err != nil {
		return nil, fmt.Errorf("%w: payload %s: %s: %w", ErrInvalidPayload, desc.Digest, ReleaseMetadataPath, err)
	}
	if p.Metadata.Kind != "" && p.Metadata.Kind != "cincinnati-metadata-v0" {
		return nil, fmt.Errorf("%w: payload %s: %s: kind %q, want cincinnati-metadata-v0", ErrInvalidPayload, desc.Digest, ReleaseMetadataPath, p.Metadata.Kind)
	}
	if p.Version, err = ParseVersion(p.Metadata.Version); err != nil {
		return nil, fmt.Errorf("%w: payload %s: %s: %w", ErrInvalidPayload, desc.Digest, ReleaseMetadataPath, err)
	}
	if opts.ExpectVersion != "" && opts.ExpectVersion != p.Metadata.Version {
		return nil, fmt.Errorf("%w: payload %s is version %s, the update graph says %s", ErrInvalidPayload, desc.Digest, p.Metadata.Version, opts.ExpectVersion)
	}
	if p.Components, err = ParseImageReferences(refs); err != nil {
		return nil, fmt.Errorf("payload %s: %w", desc.Digest, err)
	}
	p.BootImages = files[BootImagesPath]
	return p, nil
}

// pickManifest returns desc itself for an image manifest, or the chosen
// entry of an index.
func pickManifest(ctx context.Context, src content.ReadOnlyStorage, desc ocispec.Descriptor, opts ReadOptions) (ocispec.Descriptor, error) {
	switch desc.MediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		return desc, nil
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
	default:
		return ocispec.Descriptor{}, fmt.Errorf("%w: payload %s has media type %q, want an image manifest or index", ErrInvalidPayload, desc.Digest, desc.MediaType)
	}
	raw, err := fetchCapped(ctx, src, desc, opts.MaxManifestBytes)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("release: payload %s: index: %w", desc.Digest, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: payload %s: index: %w", ErrInvalidPayload, desc.Digest, err)
	}
	want := []Arch{opts.Arch}
	if opts.Arch == "" || opts.Arch == ArchMulti {
		want = []Arch{ArchAMD64, ArchARM64, ArchPPC64LE, ArchS390X}
	}
	for _, a := range want {
		plat, ok := a.Platform()
		if !ok {
			return ocispec.Descriptor{}, fmt.Errorf("%w: architecture %q", ErrInvalidArgument, a)
		}
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.OS == plat.OS && m.Platform.Architecture == plat.Architecture &&
				(m.MediaType == ocispec.MediaTypeImageManifest || m.MediaType == mediaTypeDockerManifest) {
				return m, nil
			}
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: payload index %s has no linux manifest for %v", ErrInvalidPayload, desc.Digest, want)
}

// fetchCapped fetches a small blob whole, verifying size and digest.
func fetchCapped(ctx context.Context, src content.ReadOnlyStorage, desc ocispec.Descriptor, max int64) ([]byte, error) {
	if desc.Size < 0 || desc.Size > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, desc.Digest, desc.Size, max)
	}
	return content.FetchAll(ctx, src, desc)
}

// scanLayer looks for the wanted release-manifests files in one layer and
// adds the ones not already found (from a higher layer) to files.
func scanLayer(ctx context.Context, src content.ReadOnlyStorage, layer ocispec.Descriptor, opts ReadOptions, budget *int64, wanted []string, files map[string][]byte) (err error) {
	if layer.Size < 0 || layer.Size > opts.MaxLayerBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, layer.Size, opts.MaxLayerBytes)
	}
	rc, err := src.Fetch(ctx, layer)
	if err != nil {
		return err
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, layer)
	br := bufio.NewReaderSize(vr, 64<<10)
	dec, closeDec, err := decompressor(br)
	if err != nil {
		return err
	}
	defer closeDec()
	cr := &budgetReader{r: dec, left: budget}
	tr := tar.NewReader(cr)
	found := map[string]bool{}
	for len(found) < len(wanted) {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := cleanTarName(h.Name)
		if !slices.Contains(wanted, name) {
			continue
		}
		if found[name] {
			return fmt.Errorf("%w: %s appears twice in one layer", ErrInvalidPayload, name)
		}
		found[name] = true
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("%w: %s is not a regular file (type %q)", ErrInvalidPayload, name, h.Typeflag)
		}
		if h.Size > opts.MaxFileBytes {
			return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, name, h.Size, opts.MaxFileBytes)
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return err
		}
		if _, have := files[name]; !have {
			files[name] = data
		}
	}
	// Stop decompressing; hash the rest of the compressed bytes so the digest
	// check covers what we used.
	if _, err := io.Copy(io.Discard, vr); err != nil {
		return err
	}
	if err := vr.Verify(); err != nil {
		return err
	}
	return nil
}

func cleanTarName(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}

// decompressor sniffs gzip and zstd magics; anything else is read as tar.
func decompressor(br *bufio.Reader) (io.Reader, func(), error) {
	magic, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		zr.Multistream(false)
		return zr, func() { zr.Close() }, nil
	case len(magic) == 4 && bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(zstdMaxMemory))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// budgetReader fails once more than *left bytes have been read through it.
type budgetReader struct {
	r    io.Reader
	left *int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if *b.left <= 0 {
		return 0, fmt.Errorf("%w: decompressed payload layers exceed the limit", ErrTooLarge)
	}
	if int64(len(p)) > *b.left {
		p = p[:*b.left]
	}
	n, err := b.r.Read(p)
	*b.left -= int64(n)
	return n, err
}

// imageStream is the part of image-references we use.
type imageStream struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Tags []struct {
			Name string `json:"name"`
			From *struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"from"`
		} `json:"tags"`
	} `json:"spec"`
}

var tagNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ParseImageReferences parses release-manifests/image-references (an
// ImageStream) and returns its components sorted by name. Every tag must
// have a valid, unique name and a DockerImage pinned by sha256 digest.
func ParseImageReferences(data []byte) ([]Component, error) {
	var is imageStream
	if err := json.Unmarshal(data, &is); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidPayload, ImageReferencesPath, err)
	}
	if is.Kind != "ImageStream" {
		return nil, fmt.Errorf("%w: %s: kind %q, want ImageStream", ErrInvalidPayload, ImageReferencesPath, is.Kind)
	}
	if len(is.Spec.Tags) == 0 || len(is.Spec.Tags) > MaxComponents {
		return nil, fmt.Errorf("%w: %s: %d tags (want 1 to %d)", ErrInvalidPayload, ImageReferencesPath, len(is.Spec.Tags), MaxComponents)
	}
	out := make([]Component, 0, len(is.Spec.Tags))
	seen := map[string]bool{}
	for i, t := range is.Spec.Tags {
		if !tagNameRE.MatchString(t.Name) {
			return nil, fmt.Errorf("%w: %s: tag %d: invalid name %q", ErrInvalidPayload, ImageReferencesPath, i, t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("%w: %s: tag %q appears twice", ErrInvalidPayload, ImageReferencesPath, t.Name)
		}
		seen[t.Name] = true
		if t.From == nil || (t.From.Kind != "" && t.From.Kind != "DockerImage") {
			return nil, fmt.Errorf("%w: %s: tag %q: from is not a DockerImage", ErrInvalidPayload, ImageReferencesPath, t.Name)
		}
		d, err := DigestOf(t.From.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: tag %q: %w", ErrInvalidPayload, ImageReferencesPath, t.Name, err)
		}
		out = append(out, Component{Name: t.Name, Image: t.From.Name, Digest: d})
	}
	slices.SortFunc(out, func(a, b Component) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
