package helm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
)

// Helm's OCI media types (helm pkg/registry, HIP-0017).
const (
	// ConfigMediaType is the config of a chart artifact: Chart.yaml
	// metadata as JSON.
	ConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	// ChartLayerMediaType is the chart archive (.tgz) layer.
	ChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	// ProvLayerMediaType is the provenance (.prov) layer.
	ProvLayerMediaType = "application/vnd.cncf.helm.chart.provenance.v1.prov"
	// LegacyChartLayerMediaType is the chart layer of charts pushed by
	// helm 3.0-3.7 era tools; helm pull still accepts it.
	LegacyChartLayerMediaType = "application/tar+gzip"
)

// Manifest returns the chart's OCI manifest and its descriptor. For an OCI
// source it is the manifest as served, byte for byte. Otherwise it is the
// manifest helm push writes: config = Chart.yaml metadata as JSON, the
// archive as chart layer, the provenance file (if any) as second layer,
// layers sorted by digest, and helm's annotations with created taken from
// [Chart.Created] (never the clock), so that the digest is the same on
// every run.
func (c *Chart) Manifest() ([]byte, ocispec.Descriptor, error) {
	if c.manifest != nil {
		return c.manifest, c.manifestDesc, nil
	}
	cfg, err := c.configBlob()
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	meta, err := c.Metadata()
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	layers := []ocispec.Descriptor{{MediaType: ChartLayerMediaType, Digest: c.Digest(), Size: int64(len(c.Archive))}}
	if c.Provenance != nil {
		layers = append(layers, ocispec.Descriptor{MediaType: ProvLayerMediaType, Digest: digest.FromBytes(c.Provenance), Size: int64(len(c.Provenance))})
	}
	slices.SortFunc(layers, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })

	ann := map[string]string{}
	add := func(k, v string) {
		if strings.TrimSpace(v) != "" {
			ann[k] = v
		}
	}
	add(ocispec.AnnotationDescription, meta.Description)
	add(ocispec.AnnotationTitle, meta.Name)
	add(ocispec.AnnotationVersion, meta.Version)
	add(ocispec.AnnotationURL, meta.Home)
	created := c.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	add(ocispec.AnnotationCreated, created.UTC().Format(time.RFC3339))
	if len(meta.Sources) > 0 {
		add(ocispec.AnnotationSource, meta.Sources[0])
	}
	if len(meta.Maintainers) > 0 {
		var b strings.Builder
		for i, m := range meta.Maintainers {
			b.WriteString(m.Name)
			if m.Email != "" {
				b.WriteString(" (" + m.Email + ")")
			}
			if i < len(meta.Maintainers)-1 {
				b.WriteString(", ")
			}
		}
		add(ocispec.AnnotationAuthors, b.String())
	}
	for k, v := range meta.Annotations {
		if k != ocispec.AnnotationVersion && k != ocispec.AnnotationTitle {
			ann[k] = v
		}
	}
	m := ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		Config:      ocispec.Descriptor{MediaType: ConfigMediaType, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:      layers,
		Annotations: ann,
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("%w: %s: manifest: %v", ErrChart, c.Source, err)
	}
	return b, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}, nil
}

// blob returns the bytes of a config or layer of the chart's manifest.
func (c *Chart) blob(d digest.Digest) ([]byte, bool) {
	if b, ok := c.blobs[d]; ok {
		return b, true
	}
	if d == c.Digest() {
		return c.Archive, true
	}
	if c.Provenance != nil && d == digest.FromBytes(c.Provenance) {
		return c.Provenance, true
	}
	if cfg, err := c.configBlob(); err == nil && d == digest.FromBytes(cfg) {
		return cfg, true
	}
	return nil, false
}

// Push writes the chart's artifact (config, layers, manifest; see
// [Chart.Manifest]) into dst and tags it with [Chart.Tag]. Content dst
// already has is not pushed again. It returns the manifest descriptor.
func (c *Chart) Push(ctx context.Context, dst oras.Target) (ocispec.Descriptor, error) {
	raw, desc, err := c.Manifest()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: %s: manifest: %v", ErrUnsupported, c.Source, err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		b, ok := c.blob(d.Digest)
		if !ok {
			return ocispec.Descriptor{}, fmt.Errorf("%w: %s: blob %s of the manifest was not fetched", ErrUnsupported, c.Source, d.Digest)
		}
		if err := pushIfAbsent(ctx, dst, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, b); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s: push %s: %w", c.Source, d.Digest, err)
		}
	}
	if err := pushIfAbsent(ctx, dst, desc, raw); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: push manifest: %w", c.Source, err)
	}
	if err := dst.Tag(ctx, desc, c.Tag()); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: tag %s: %w", c.Source, c.Tag(), err)
	}
	return desc, nil
}

func pushIfAbsent(ctx context.Context, dst oras.Target, desc ocispec.Descriptor, b []byte) error {
	if ok, err := dst.Exists(ctx, desc); err == nil && ok {
		return nil
	}
	err := dst.Push(ctx, desc, bytes.NewReader(b))
	if errors.Is(err, errdef.ErrAlreadyExists) {
		return nil
	}
	return err
}
