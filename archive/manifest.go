package archive

import (
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

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
