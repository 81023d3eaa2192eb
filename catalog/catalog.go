package catalog

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// FBC schemas this package understands. Documents of any other schema are
// carried through untouched ([Blob]).
const (
	SchemaPackage      = "olm.package"
	SchemaChannel      = "olm.channel"
	SchemaBundle       = "olm.bundle"
	SchemaDeprecations = "olm.deprecations"
)

// ConfigsLabel is the image config label naming the directory that holds the
// file-based catalog; DefaultConfigsDir is used when it is absent.
const (
	ConfigsLabel      = "operators.operatorframework.io.index.configs.v1"
	DefaultConfigsDir = "/configs"
	// SQLiteLabel marks the legacy sqlite-based indexes, which are refused
	// (oc-mirror v2 does not support them either).
	SQLiteLabel = "operators.operatorframework.io.index.database.v1"
)

// Catalog is the upgrade graph of a file-based catalog read from an image:
// packages, channels with their entries and edges, bundles with their
// versions and images, deprecations, and the place of every other document.
// Document payloads (olm.bundle.object, olm.csv.metadata, ...) are not kept;
// writing a filtered catalog reads them again from the image's layers.
type Catalog struct {
	// Image is the descriptor the catalog was loaded from (a manifest or an
	// index).
	Image ocispec.Descriptor
	// Manifest is the platform manifest whose layers were read (equal to
	// Image unless Image is an index).
	Manifest ocispec.Descriptor
	// Dir is the configs directory inside the image, as in the label
	// ("/configs").
	Dir string
	// Config is the runtime configuration of the image read (entrypoint,
	// command, labels).
	Config ocispec.ImageConfig
	// Packages are sorted by name.
	Packages []*Package
	// Others are documents of unknown schema, in image order (file path,
	// then position in the file).
	Others []*Blob

	src    content.Fetcher
	layers []ocispec.Descriptor
	pkgs   map[string]*Package
}

// Package is an olm.package with everything that belongs to it.
type Package struct {
	Name           string
	DefaultChannel string
	// Channels are sorted by name.
	Channels []*Channel
	// Bundles are sorted by name.
	Bundles []*Bundle
	// Deprecations is the package's olm.deprecations document, nil if none.
	Deprecations *Deprecations

	raw      json.RawMessage
	channels map[string]*Channel
	bundles  map[string]*Bundle
}

// Channel is an olm.channel: an upgrade graph over bundles of its package.
type Channel struct {
	Package, Name string
	Entries       []Entry

	raw json.RawMessage
}

// Entry is one entry of a channel. Edges are Replaces and Skips; SkipRange
// is a blang/semver range of versions the entry may upgrade from.
type Entry struct {
	Name      string   `json:"name"`
	Replaces  string   `json:"replaces,omitempty"`
	Skips     []string `json:"skips,omitempty"`
	SkipRange string   `json:"skipRange,omitempty"`
}

// Bundle is an olm.bundle: one version of an operator.
type Bundle struct {
	Package, Name string
	// Image is the bundle image as written in the catalog.
	Image string
	// Version is the version of the bundle's olm.package property.
	Version string
	// RelatedImages as written in the catalog.
	RelatedImages []RelatedImage

	version *semver.Version
	loc     location
}

// RelatedImage is one relatedImages entry of a bundle.
type RelatedImage struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// Images returns the bundle image followed by its related images, without
// empty or repeated references.
func (b *Bundle) Images() []string {
	out := make([]string, 0, 1+len(b.RelatedImages))
	if b.Image != "" {
		out = append(out, b.Image)
	}
	for _, r := range b.RelatedImages {
		if r.Image != "" && !slices.Contains(out, r.Image) {
			out = append(out, r.Image)
		}
	}
	return out
}

// Deprecations is a package's olm.deprecations document.
type Deprecations struct {
	Package string
	Entries []Deprecation

	raw json.RawMessage
}

// Deprecation is one entry of an olm.deprecations document: Schema is
// olm.package, olm.channel or olm.bundle, Name the channel or bundle name
// (empty for the package).
type Deprecation struct {
	Schema, Name, Message string

	raw json.RawMessage
}

// Blob is a document of a schema this package does not interpret, carried
// unchanged. An empty Package means it belongs to no package; such
// documents are kept by every filter.
type Blob struct {
	Schema, Package, Name string

	loc location
}

// location is where a document lies in the image: the layer, the entry of
// the layer's tar stream, the byte range inside that file.
type location struct {
	layer, entry   int
	path           string
	offset, length int64
	yaml           bool
}

// Package returns the named package, or nil.
func (c *Catalog) Package(name string) *Package { return c.pkgs[name] }

// Channel returns the named channel, or nil.
func (p *Package) Channel(name string) *Channel { return p.channels[name] }

// Bundle returns the named bundle, or nil.
func (p *Package) Bundle(name string) *Bundle { return p.bundles[name] }

// ChannelNames returns the package's channel names, sorted.
func (p *Package) ChannelNames() []string {
	out := make([]string, len(p.Channels))
	for i, c := range p.Channels {
		out[i] = c.Name
	}
	return out
}

// PackageNames returns the catalog's package names, sorted.
func (c *Catalog) PackageNames() []string {
	out := make([]string, len(c.Packages))
	for i, p := range c.Packages {
		out[i] = p.Name
	}
	return out
}

// Head returns the channel's head: the one entry that no other entry of the
// channel replaces or skips (skipRange is not an edge, as for opm). It
// fails with [ErrInvalidGraph] when the channel has no entries, several
// heads, or none.
func (c *Channel) Head() (string, error) {
	g, err := newGraph(c)
	if err != nil {
		return "", err
	}
	return g.head, nil
}

// list formats names for error messages: "a, b, c", or "none".
func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
