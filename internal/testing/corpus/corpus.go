package corpus

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/opencontainers/go-digest"
)

// Defaults of Options.
const (
	DefaultImages       = 36
	DefaultBigLayerSize = 2 << 30
)

// streamThreshold is the tar size above which a layer is never held in
// memory: it is generated twice, once to learn its digest and once to push.
// Below it a layer is generated once into memory (compressed, so at most this
// much per concurrent push).
const streamThreshold = 256 << 20

// Options configure Generate. The zero value of every field but Release means
// its documented default.
type Options struct {
	// Seed selects the corpus: the same seed (and options) gives
	// byte-identical blobs on every machine.
	Seed uint64
	// Scale multiplies every layer's size (default 1: about 1.5 GB of
	// compressed blobs for release 1). Tests use 0.001 or less; no layer is
	// smaller than 1 KiB.
	Scale float64
	// Images is the number of images in release 1 (default DefaultImages,
	// at least 8). Release 2 has the same images and Images/12 more.
	Images int
	// Release is 1 or 2. Release 2 shares most layers with release 1 and is
	// tagged v2 in the same repositories.
	Release int
	// BigLayer adds the image ocp/model-server, whose last layer is a single
	// gzip layer of BigLayerSize tar bytes of incompressible data. It is
	// never held in memory.
	BigLayer bool
	// BigLayerSize is the tar size of the big layer (default
	// DefaultBigLayerSize, 2 GiB); not scaled by Scale.
	BigLayerSize int64
	// Concurrency bounds the layers generated and pushed at once (default
	// GOMAXPROCS: generation is CPU-bound).
	Concurrency int
	// Cache, when set, remembers the digests of generated layers, so that a
	// second Generate (release 2 after release 1) need not generate the
	// layers the target already has just to learn their digests.
	Cache *Cache
	// Logf, when set, receives progress messages.
	Logf func(format string, args ...any)
}

// ErrInvalidOptions is returned (wrapped) by Generate for options out of range.
var ErrInvalidOptions = errors.New("corpus: invalid options")

func (o Options) withDefaults() (Options, error) {
	if o.Scale == 0 {
		o.Scale = 1
	}
	if o.Images == 0 {
		o.Images = DefaultImages
	}
	if o.BigLayerSize == 0 {
		o.BigLayerSize = DefaultBigLayerSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	switch {
	case o.Release != 1 && o.Release != 2:
		return o, fmt.Errorf("%w: release %d, want 1 or 2", ErrInvalidOptions, o.Release)
	case o.Scale < 0 || o.Scale > 1000:
		return o, fmt.Errorf("%w: scale %g", ErrInvalidOptions, o.Scale)
	case o.Images < 8 || o.Images > 99:
		return o, fmt.Errorf("%w: %d images, want 8 to 99", ErrInvalidOptions, o.Images)
	case o.BigLayerSize < 0:
		return o, fmt.Errorf("%w: big layer size %d", ErrInvalidOptions, o.BigLayerSize)
	case o.Concurrency < 0:
		return o, fmt.Errorf("%w: concurrency %d", ErrInvalidOptions, o.Concurrency)
	}
	return o, nil
}

// Manifest describes a generated release: what Generate pushed.
type Manifest struct {
	Seed    uint64  `json:"seed"`
	Scale   float64 `json:"scale"`
	Release int     `json:"release"`
	// Images, sorted by repository.
	Images []Image `json:"images"`
	// Blobs is every blob of the release once (layers, configs, manifests,
	// indexes, referrers and their blobs), sorted by digest.
	Blobs []Blob `json:"blobs"`
}

// Image is one tagged image of a release.
type Image struct {
	// Repository is the path below the registry host, e.g. "ocp/component-07".
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	// Digest, MediaType and Size are those of the image manifest, or of the
	// image index for a multi-platform image.
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	// Platforms are "os/arch", e.g. "linux/amd64".
	Platforms []string `json:"platforms"`
	// BigLayer marks the image holding the big layer (Options.BigLayer).
	BigLayer bool `json:"bigLayer,omitempty"`
	// Referrers are the manifests whose subject is this image.
	Referrers []digest.Digest `json:"referrers,omitempty"`
	// Blobs is every blob a copy of the image with its referrers moves,
	// including the manifest or index itself, sorted.
	Blobs []digest.Digest `json:"blobs"`
}

// Reference is the image's reference on the registry host, host/repo:tag.
func (im Image) Reference(host string) string {
	return host + "/" + im.Repository + ":" + im.Tag
}

// Blob is one blob of a release.
type Blob struct {
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	MediaType string        `json:"mediaType"`
	// Repository is one repository that holds the blob.
	Repository string `json:"repository"`
}

// Blob returns the blob with digest d.
func (m *Manifest) Blob(d digest.Digest) (Blob, bool) {
	i, ok := slices.BinarySearchFunc(m.Blobs, d, func(b Blob, d digest.Digest) int { return cmp.Compare(b.Digest, d) })
	if !ok {
		return Blob{}, false
	}
	return m.Blobs[i], true
}

// UniqueBytes is the total size of the distinct blobs of images, or of the
// whole release when no image is given: what an ideal copy moves.
func (m *Manifest) UniqueBytes(images ...Image) int64 {
	if len(images) == 0 {
		var n int64
		for _, b := range m.Blobs {
			n += b.Size
		}
		return n
	}
	var n int64
	for d := range m.digests(images) {
		b, _ := m.Blob(d)
		n += b.Size
	}
	return n
}

// NewBytes is the total size of the distinct blobs of m not in base: what an
// ideal delta from base moves.
func (m *Manifest) NewBytes(base *Manifest) int64 {
	var n int64
	for _, b := range m.Blobs {
		if _, ok := base.Blob(b.Digest); !ok {
			n += b.Size
		}
	}
	return n
}

func (m *Manifest) digests(images []Image) map[digest.Digest]bool {
	set := map[digest.Digest]bool{}
	for _, im := range images {
		for _, d := range im.Blobs {
			set[d] = true
		}
	}
	return set
}
