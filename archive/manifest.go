package archive

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxGraphDepth bounds how deep manifests nest below a root: an index of
// manifests is 1, an index of indexes 2; real images stay below 4. A writer
// refuses a deeper graph and a reader an archive holding one, so a hostile
// source (an index nested 1,000 deep) costs a bounded walk, never a stack.
const MaxGraphDepth = 16

func tooDeep(d digest.Digest) error {
	return fmt.Errorf("%w: manifests nested more than %d deep at %s", ErrGraphTooDeep, MaxGraphDepth, d)
}

// Manifest media types whose successors an archive follows.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeArtifactManifest   = "application/vnd.oci.artifact.manifest.v1+json"
)

func isManifestType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		mediaTypeDockerManifest, mediaTypeDockerManifestList, mediaTypeArtifactManifest:
		return true
	}
	return false
}

// IsForeignLayer reports whether desc is a non-distributable ("foreign")
// layer: the OCI non-distributable layer types or Docker's foreign layer
// type, the same set oras-go leaves out of a copy. An archive never carries
// one and never lists one as a prerequisite; nothing here fetches its urls,
// whoever's host they name (the image's nodes pull such a layer from its urls
// themselves, as for any registry mirror).
func IsForeignLayer(desc ocispec.Descriptor) bool {
	switch desc.MediaType {
	case "application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
		return true
	}
	return false
}

func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

// checkManifest refuses a manifest whose content disagrees with its
// descriptor: a mediaType field that differs from the descriptor's, or a
// document with both "manifests" and "layers" (CVE-2021-41190, type
// confusion between index and manifest).
func checkManifest(desc ocispec.Descriptor, b []byte) error {
	var v struct {
		MediaType string            `json:"mediaType"`
		Manifests json.RawMessage   `json:"manifests"`
		Layers    json.RawMessage   `json:"layers"`
		Config    json.RawMessage   `json:"config"`
		Blobs     []json.RawMessage `json:"blobs"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("archive: manifest %s is not valid JSON: %v", desc.Digest, err)
	}
	if v.MediaType != "" && v.MediaType != desc.MediaType {
		return fmt.Errorf("archive: manifest %s says mediaType %q but its descriptor says %q", desc.Digest, v.MediaType, desc.MediaType)
	}
	if v.Manifests != nil && (v.Layers != nil || v.Config != nil) {
		return fmt.Errorf("archive: manifest %s has both manifests and layers/config (ambiguous type)", desc.Digest)
	}
	if isIndexType(desc.MediaType) && (v.Layers != nil || v.Config != nil) {
		return fmt.Errorf("archive: index %s has layers or a config", desc.Digest)
	}
	if !isIndexType(desc.MediaType) && v.Manifests != nil {
		return fmt.Errorf("archive: manifest %s has a manifests list", desc.Digest)
	}
	return nil
}
