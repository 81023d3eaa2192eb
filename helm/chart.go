package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// SourceKind says where a chart came from.
type SourceKind string

// Source kinds.
const (
	SourceHTTP  SourceKind = "http"
	SourceOCI   SourceKind = "oci"
	SourceLocal SourceKind = "local"
	// SourceArchive is a chart read back from an enclave archive
	// ([FromArchive]); it has no source to be named after.
	SourceArchive SourceKind = "archive"
)

// Chart is one fetched chart version, held in memory: the exact archive
// bytes and, when the source has them, its provenance file and (for an
// OCI source) its original manifest and config.
type Chart struct {
	// Name and Version are the chart's, from Chart.yaml.
	Name, Version string
	// Archive is the packaged chart (.tgz) byte for byte.
	Archive []byte
	// Provenance is the .prov file, nil when the source has none.
	Provenance []byte
	// Created is the index entry's creation time for an HTTP source, the
	// manifest's org.opencontainers.image.created for an OCI source, and
	// the archive's Chart.yaml modification time for a local chart.
	Created time.Time
	// Kind is where the chart came from.
	Kind SourceKind
	// Source is the chart's location without credentials: the archive URL
	// for HTTP, oci://host/path/name:tag for OCI, the path for local.
	Source string
	// Repository is the source repository URL (oci://host/path for OCI,
	// the repository URL for HTTP) without credentials, empty for local.
	Repository string

	// OCI sources: the manifest as served, and its blobs by digest.
	manifest     []byte
	manifestDesc ocispec.Descriptor
	blobs        map[digest.Digest][]byte

	config []byte // the config blob, computed on first use
}

// Digest returns the sha256 digest of the archive: the chart layer's
// digest and the index.yaml digest.
func (c *Chart) Digest() digest.Digest { return digest.FromBytes(c.Archive) }

// Tag returns the OCI tag of the chart's version as helm push writes it
// ("+" becomes "_").
func (c *Chart) Tag() string { return OCITag(c.Version) }

// OCITag returns version as an OCI tag, "+" written "_" as helm does.
func OCITag(version string) string { return strings.ReplaceAll(version, "+", "_") }

// Metadata returns the chart's Chart.yaml metadata, as Helm's loader reads
// it from the archive.
func (c *Chart) Metadata() (*chartv2.Metadata, error) {
	ch, err := loadArchive(c.Archive, c.Source)
	if err != nil {
		return nil, err
	}
	return ch.Metadata, nil
}

// loadArchive loads a chart with Helm's loader, errors wrapping ErrChart.
func loadArchive(archive []byte, what string) (*chartv2.Chart, error) {
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrChart, what, err)
	}
	if ch.Metadata == nil {
		return nil, fmt.Errorf("%w: %s: no Chart.yaml", ErrChart, what)
	}
	return ch, nil
}

// newChart checks archive with Helm's loader and returns it as a Chart.
func newChart(archive []byte, kind SourceKind, source, repository string) (*Chart, error) {
	ch, err := loadArchive(archive, source)
	if err != nil {
		return nil, err
	}
	return &Chart{
		Name: ch.Metadata.Name, Version: ch.Metadata.Version,
		Archive: archive, Kind: kind, Source: source, Repository: repository,
	}, nil
}

// FromArchive returns the chart of a packaged archive (.tgz bytes) and its
// provenance file (nil for none), as carried elsewhere (an enclave
// archive): for [WriteRepository]. created is its index created time;
// source names it in messages. Errors wrap [ErrChart].
func FromArchive(archive, provenance []byte, created time.Time, source string) (*Chart, error) {
	c, err := newChart(archive, SourceArchive, source, "")
	if err != nil {
		return nil, err
	}
	c.Provenance, c.Created = provenance, created
	return c, nil
}

// chartYAMLTime returns the modification time of the archive's top
// Chart.yaml, zero if it cannot be read.
func chartYAMLTime(archive []byte) time.Time {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return time.Time{}
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			return time.Time{}
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "/")
		if dir, file := path.Split(name); file == "Chart.yaml" && strings.Count(dir, "/") == 1 {
			return h.ModTime.UTC()
		}
	}
}

// readBounded reads r to the end, failing with ErrTooLarge past max bytes.
func readBounded(r io.Reader, max int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, what, max)
	}
	return data, nil
}

// configBlob returns the Helm config blob: Chart.yaml metadata as JSON,
// exactly as helm push marshals it.
func (c *Chart) configBlob() ([]byte, error) {
	if c.config != nil {
		return c.config, nil
	}
	meta, err := c.Metadata()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: metadata: %v", ErrChart, c.Source, err)
	}
	c.config = b
	return b, nil
}

var errNoChartLayer = errors.New("no chart content layer")
