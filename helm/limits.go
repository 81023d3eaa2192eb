package helm

import "time"

// Default limits. Each bounds memory or time that input controls.
const (
	// DefaultMaxIndexBytes bounds an index.yaml: large public repositories
	// publish indexes of tens of MiB (every version of every chart), and
	// the YAML parser holds the whole document.
	DefaultMaxIndexBytes = 64 << 20
	// DefaultMaxIndexEntries bounds the chart versions an index may list,
	// all charts together.
	DefaultMaxIndexEntries = 200_000
	// DefaultMaxChartBytes bounds a packaged chart (.tgz): charts are held
	// in memory, and Helm's loader refuses more than 100 MiB unpacked.
	DefaultMaxChartBytes = 32 << 20
	// DefaultMaxProvenanceBytes bounds a .prov file (a signed Chart.yaml
	// and one digest: a few KiB).
	DefaultMaxProvenanceBytes = 1 << 20
	// DefaultMaxRenderedBytes bounds the rendered manifests of one chart.
	DefaultMaxRenderedBytes = 64 << 20
	// DefaultMaxManifestBytes bounds an OCI chart manifest and its config.
	DefaultMaxManifestBytes = 4 << 20
	// DefaultRenderTimeout bounds one render: Go templates cannot be
	// interrupted, and a template can loop.
	DefaultRenderTimeout = 2 * time.Minute
)

// Limits bound what input controls. The zero value of a field means its
// default.
type Limits struct {
	MaxIndexBytes      int64
	MaxIndexEntries    int
	MaxChartBytes      int64
	MaxProvenanceBytes int64
	MaxRenderedBytes   int64
	MaxManifestBytes   int64
	RenderTimeout      time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxIndexBytes <= 0 {
		l.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if l.MaxIndexEntries <= 0 {
		l.MaxIndexEntries = DefaultMaxIndexEntries
	}
	if l.MaxChartBytes <= 0 {
		l.MaxChartBytes = DefaultMaxChartBytes
	}
	if l.MaxProvenanceBytes <= 0 {
		l.MaxProvenanceBytes = DefaultMaxProvenanceBytes
	}
	if l.MaxRenderedBytes <= 0 {
		l.MaxRenderedBytes = DefaultMaxRenderedBytes
	}
	if l.MaxManifestBytes <= 0 {
		l.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if l.RenderTimeout <= 0 {
		l.RenderTimeout = DefaultRenderTimeout
	}
	return l
}
