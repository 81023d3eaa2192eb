package helm

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	charts "github.com/enclave-mirror/enclave/helm"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// AttachCharts is the archive attachment that records the charts an
// archive carries and the images each uses.
const AttachCharts = "helm/charts.json"

// MaxRecordBytes bounds the record read at unpack.
const MaxRecordBytes = 32 << 20

// Record is the content of [AttachCharts].
type Record struct {
	Charts []ChartRecord `json:"charts"`
}

// ChartRecord is one chart of the configuration as pack resolved it.
type ChartRecord struct {
	// Repository is the configuration's repository name, "" for a local
	// chart; URL its URL (without credentials) or the local path.
	Repository string `json:"repository,omitempty"`
	URL        string `json:"url"`
	// Name is the chart as configured (a local chart: the entry's name),
	// Requested the configured version or range ("" for the latest).
	Name      string `json:"name"`
	Requested string `json:"requested,omitempty"`
	// Chart and Version are the chart's own name and the resolved version.
	Chart   string            `json:"chart,omitempty"`
	Version string            `json:"version,omitempty"`
	Kind    charts.SourceKind `json:"kind,omitempty"`
	// Source is the reference the chart root has in the archive.
	Source string `json:"source,omitempty"`
	// Manifest is the chart artifact's manifest digest; Archive the .tgz
	// digest (the chart layer, as in index.yaml).
	Manifest    digest.Digest `json:"manifest,omitempty"`
	Archive     digest.Digest `json:"archive,omitempty"`
	ArchiveSize int64         `json:"archiveSize,omitempty"`
	// Provenance is the digest of the .prov layer, "" without one.
	Provenance     digest.Digest `json:"provenance,omitempty"`
	ProvenanceSize int64         `json:"provenanceSize,omitempty"`
	// Created is the chart's created time (index entry, manifest
	// annotation or archive), kept for repository indexes written later.
	Created time.Time `json:"created,omitzero"`
	// Destination is the chart's place below the destination root.
	Destination string        `json:"destination,omitempty"`
	Images      []ImageRecord `json:"images,omitempty"`
	// TestImages are images only helm test hooks use: listed, not carried.
	TestImages []ImageRecord `json:"testImages,omitempty"`
	LintMode   bool          `json:"lintMode,omitempty"`
	Warnings   []string      `json:"warnings,omitempty"`
	// Error is why the chart failed at pack ("" when it did not).
	Error string `json:"error,omitempty"`
}

// ImageRecord is one image a chart uses.
type ImageRecord struct {
	// Source is the normalised reference, as the archive records it.
	Source string `json:"source"`
	// Digest is the root digest pack copied ("" for test images or when
	// the copy failed).
	Digest digest.Digest `json:"digest,omitempty"`
	// Destination is its place below the destination root.
	Destination string `json:"destination"`
	// Shared marks an image that mirror.additionalImages names too: unpack
	// leaves its root to that section as well.
	Shared bool           `json:"shared,omitempty"`
	Found  []charts.Where `json:"found"`
	Error  string         `json:"error,omitempty"`
}

// readRecord reads the archive's record, nil if it carries none.
func readRecord(ctx context.Context, r *archive.Reader) (*Record, error) {
	for _, a := range r.Manifest().Attachments {
		if a.Name != AttachCharts {
			continue
		}
		if a.Size < 0 || a.Size > MaxRecordBytes {
			return nil, fmt.Errorf("%w: attachment %s is %d bytes, limit %d", section.ErrIntegrity, a.Name, a.Size, MaxRecordBytes)
		}
		data, err := content.FetchAll(ctx, r, ocispec.Descriptor{MediaType: a.MediaType, Digest: a.Digest, Size: a.Size})
		if err != nil {
			return nil, fmt.Errorf("%w: attachment %s: %v", section.ErrIntegrity, a.Name, err)
		}
		var rec Record
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("%w: attachment %s: %v", section.ErrIntegrity, a.Name, err)
		}
		return &rec, nil
	}
	return nil, nil
}
