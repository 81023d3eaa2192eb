// Package ocigraph builds new images out of existing ones: a base image (or
// every platform image of a base index) with layers appended and its
// configuration changed, pushed into any oras content store. It knows
// nothing of what the layers hold; the operator catalog rebuild and the
// release graph-data image both use it.
package ocigraph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Errors returned by this package wrap one of these.
var (
	// ErrInvalidBase: the base manifest, index or config cannot be used
	// (undecodable, unsupported media type, over MaxManifestSize).
	ErrInvalidBase = errors.New("ocigraph: invalid base image")
	// ErrInvalidLayer: a layer to append is incomplete or does not suit
	// the base (zstd onto a Docker image).
	ErrInvalidLayer = errors.New("ocigraph: invalid layer")
)

// MaxManifestSize bounds a base manifest, index or config blob: the limit
// registries put on manifests.
const MaxManifestSize = 4 << 20

// Docker v2 schema 2 media types: an image of that family gets layers of
// the same family.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
)

// Layer is a layer blob to append to an image.
type Layer struct {
	// Descriptor of the blob. MediaType is an OCI layer type
	// (ocispec.MediaTypeImageLayer, ...Gzip or ...Zstd); it is translated
	// to the Docker equivalent for a Docker base.
	Descriptor ocispec.Descriptor
	// DiffID is the digest of the uncompressed tar, appended to the
	// config's rootfs.diff_ids.
	DiffID digest.Digest
	// Open returns the blob's bytes; called only when the destination does
	// not hold the blob yet, at most once per Assemble.
	Open func() (io.ReadCloser, error)
	// History is appended to the config's history.
	History ocispec.History
}

// Change is what Assemble does to every platform image of the base.
type Change struct {
	// Layers are appended in order.
	Layers []Layer
	// Config, if set, changes the runtime configuration (labels, cmd,
	// entrypoint, ...). Fields of the base config this package does not
	// model are kept as they are.
	Config func(*ocispec.ImageConfig) error
}

// Assemble builds from base (an image manifest, or an index of them) a new
// image with ch applied, pushes into dst what dst lacks of it (base layers
// read from src, the new layers, configs, manifests, the index), and
// returns the new top-level descriptor. For an index, every image manifest
// is rebuilt and a new index lists them with their original platform and
// annotations; entries that are not images (buildx attestations, artifacts)
// are left out, since they describe the old manifests. The output depends
// only on the inputs: the same base and change give the same digests.
func Assemble(ctx context.Context, src content.Fetcher, base ocispec.Descriptor, dst content.Storage, ch Change) (ocispec.Descriptor, error) {
	for _, l := range ch.Layers {
		if l.Descriptor.Digest == "" || l.DiffID == "" || l.Open == nil {
			return ocispec.Descriptor{}, fmt.Errorf("%w: a layer needs a descriptor, a diff id and Open", ErrInvalidLayer)
		}
	}
	pushed := map[digest.Digest]bool{}
	return assemble(ctx, src, base, dst, ch, pushed, 0)
}

func assemble(ctx context.Context, src content.Fetcher, base ocispec.Descriptor, dst content.Storage, ch Change, pushed map[digest.Digest]bool, depth int) (ocispec.Descriptor, error) {
	switch base.MediaType {
	case ocispec.MediaTypeImageManifest, MediaTypeDockerManifest:
		return image(ctx, src, base, dst, ch, pushed)
	case ocispec.MediaTypeImageIndex, MediaTypeDockerManifestList:
	default:
		return ocispec.Descriptor{}, fmt.Errorf("%w: %s has media type %q, want an image manifest or index", ErrInvalidBase, base.Digest, base.MediaType)
	}
	if depth > 4 {
		return ocispec.Descriptor{}, fmt.Errorf("%w: index %s: indexes nested more than 4 deep", ErrInvalidBase, base.Digest)
	}
	raw, err := fetch(ctx, src, base, "index")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: index %s: %v", ErrInvalidBase, base.Digest, err)
	}
	out := idx
	out.Manifests = nil
	for _, m := range idx.Manifests {
		if !isImage(m) && !isIndex(m.MediaType) {
			continue
		}
		nd, err := assemble(ctx, src, m, dst, ch, pushed, depth+1)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		nd.Platform, nd.Annotations, nd.ArtifactType = m.Platform, m.Annotations, m.ArtifactType
		out.Manifests = append(out.Manifests, nd)
	}
	if len(out.Manifests) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("%w: index %s lists no image", ErrInvalidBase, base.Digest)
	}
	b, err := marshal(out)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocigraph: encoding index: %w", err)
	}
	d := content.NewDescriptorFromBytes(base.MediaType, b)
	return d, push(ctx, dst, d, b)
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// isImage reports whether an index entry is a runnable image (not a buildx
// attestation manifest).
func isImage(d ocispec.Descriptor) bool {
	if d.MediaType != ocispec.MediaTypeImageManifest && d.MediaType != MediaTypeDockerManifest {
		return false
	}
	if d.Platform != nil && d.Platform.OS == "unknown" {
		return false
	}
	_, attestation := d.Annotations["vnd.docker.reference.type"]
	return !attestation
}

func fetch(ctx context.Context, src content.Fetcher, d ocispec.Descriptor, what string) ([]byte, error) {
	if d.Size < 0 || d.Size > MaxManifestSize {
		return nil, fmt.Errorf("%w: %s %s is %d bytes (limit %d)", ErrInvalidBase, what, d.Digest, d.Size, MaxManifestSize)
	}
	b, err := content.FetchAll(ctx, src, d)
	if err != nil {
		return nil, fmt.Errorf("ocigraph: fetching %s %s: %w", what, d.Digest, err)
	}
	return b, nil
}

// push pushes b unless dst has it already.
func push(ctx context.Context, dst content.Storage, d ocispec.Descriptor, b []byte) error {
	return pushFrom(ctx, dst, d, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func pushFrom(ctx context.Context, dst content.Storage, d ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	ok, err := dst.Exists(ctx, d)
	if err != nil {
		return fmt.Errorf("ocigraph: checking %s: %w", d.Digest, err)
	}
	if ok {
		return nil
	}
	rc, err := open()
	if err != nil {
		return fmt.Errorf("ocigraph: opening %s: %w", d.Digest, err)
	}
	defer rc.Close()
	if err := dst.Push(ctx, d, rc); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return fmt.Errorf("ocigraph: pushing %s: %w", d.Digest, err)
	}
	return nil
}

func layerMediaType(manifestType, layerType string) (string, error) {
	if manifestType != MediaTypeDockerManifest {
		return layerType, nil
	}
	switch layerType {
	case ocispec.MediaTypeImageLayerGzip, MediaTypeDockerLayerGzip:
		return MediaTypeDockerLayerGzip, nil
	case ocispec.MediaTypeImageLayer, MediaTypeDockerLayer:
		return MediaTypeDockerLayer, nil
	}
	return "", fmt.Errorf("%w: a Docker image cannot hold a %s layer", ErrInvalidLayer, layerType)
}

func image(ctx context.Context, src content.Fetcher, base ocispec.Descriptor, dst content.Storage, ch Change, pushed map[digest.Digest]bool) (ocispec.Descriptor, error) {
	raw, err := fetch(ctx, src, base, "manifest")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: manifest %s: %v", ErrInvalidBase, base.Digest, err)
	}
	cfgRaw, err := fetch(ctx, src, m.Config, "config")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, l := range m.Layers {
		if !pushed[l.Digest] {
			if err := pushFrom(ctx, dst, l, func() (io.ReadCloser, error) { return src.Fetch(ctx, l) }); err != nil {
				return ocispec.Descriptor{}, err
			}
			pushed[l.Digest] = true
		}
	}
	var diffIDs []digest.Digest
	var history []ocispec.History
	for _, l := range ch.Layers {
		d := l.Descriptor
		if d.MediaType, err = layerMediaType(base.MediaType, d.MediaType); err != nil {
			return ocispec.Descriptor{}, err
		}
		if !pushed[d.Digest] {
			if err := pushFrom(ctx, dst, d, l.Open); err != nil {
				return ocispec.Descriptor{}, err
			}
			pushed[d.Digest] = true
		}
		m.Layers = append(m.Layers, d)
		diffIDs = append(diffIDs, l.DiffID)
		history = append(history, l.History)
	}
	cfg, err := changeConfig(cfgRaw, diffIDs, history, ch.Config)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: config %s of %s: %v", ErrInvalidBase, m.Config.Digest, base.Digest, err)
	}
	m.Config = content.NewDescriptorFromBytes(m.Config.MediaType, cfg)
	if err := push(ctx, dst, m.Config, cfg); err != nil {
		return ocispec.Descriptor{}, err
	}
	if m.SchemaVersion == 0 {
		m.Versioned = specs.Versioned{SchemaVersion: 2}
	}
	b, err := marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocigraph: encoding manifest: %w", err)
	}
	d := content.NewDescriptorFromBytes(base.MediaType, b)
	return d, push(ctx, dst, d, b)
}

// changeConfig applies the change to an image config, keeping every field
// it does not touch as it was (Docker fields such as container_config or
// Healthcheck included).
func changeConfig(raw []byte, diffIDs []digest.Digest, history []ocispec.History, fn func(*ocispec.ImageConfig) error) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	var rootfs map[string]json.RawMessage
	if r, ok := top["rootfs"]; ok {
		if err := json.Unmarshal(r, &rootfs); err != nil {
			return nil, fmt.Errorf("rootfs: %v", err)
		}
	} else {
		rootfs = map[string]json.RawMessage{"type": json.RawMessage(`"layers"`)}
	}
	var ids []digest.Digest
	if r, ok := rootfs["diff_ids"]; ok {
		if err := json.Unmarshal(r, &ids); err != nil {
			return nil, fmt.Errorf("rootfs.diff_ids: %v", err)
		}
	}
	if err := set(rootfs, "diff_ids", append(ids, diffIDs...)); err != nil {
		return nil, err
	}
	if err := set(top, "rootfs", rootfs); err != nil {
		return nil, err
	}
	if len(history) > 0 {
		var hs []json.RawMessage
		if r, ok := top["history"]; ok {
			if err := json.Unmarshal(r, &hs); err != nil {
				return nil, fmt.Errorf("history: %v", err)
			}
		}
		for _, h := range history {
			b, err := marshal(h)
			if err != nil {
				return nil, err
			}
			hs = append(hs, b)
		}
		if err := set(top, "history", hs); err != nil {
			return nil, err
		}
	}
	if fn != nil {
		var rc map[string]json.RawMessage
		if r, ok := top["config"]; ok && string(r) != "null" {
			if err := json.Unmarshal(r, &rc); err != nil {
				return nil, fmt.Errorf("config: %v", err)
			}
		}
		if rc == nil {
			rc = map[string]json.RawMessage{}
		}
		var ic ocispec.ImageConfig
		if r, ok := top["config"]; ok && string(r) != "null" {
			if err := json.Unmarshal(r, &ic); err != nil {
				return nil, fmt.Errorf("config: %v", err)
			}
		}
		if err := fn(&ic); err != nil {
			return nil, err
		}
		// Overlay the modelled fields; a modelled field the change cleared
		// goes away, unmodelled ones stay.
		b, err := marshal(ic)
		if err != nil {
			return nil, err
		}
		var modelled map[string]json.RawMessage
		if err := json.Unmarshal(b, &modelled); err != nil {
			return nil, err
		}
		for _, k := range modelledKeys {
			delete(rc, k)
		}
		for k, v := range modelled {
			rc[k] = v
		}
		if err := set(top, "config", rc); err != nil {
			return nil, err
		}
	}
	return marshal(top)
}

// marshal is json.Marshal without HTML escaping, so that labels and
// annotations keep their bytes.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// modelledKeys are the JSON names of ocispec.ImageConfig's fields.
var modelledKeys = []string{"User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "ArgsEscaped"}

func set[T any](m map[string]json.RawMessage, k string, v T) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	m[k] = b
	return nil
}
