package operators

import (
	"context"
	"io"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
)

// overlay is where a filtered catalog is built and copied from: what
// catalog.Selection.Rebuild pushes that base lacks (the new layer, the
// config, the manifest) is kept in memory, and the original catalog's
// layers, which base has, are read from base when the copy needs them.
// Memory then follows the filtered catalog's own blobs, not the catalog
// image: an index image is hundreds of MB of layers, which a pack used to
// hold in memory from planning to the end of the run.
type overlay struct {
	*memory.Store
	base content.ReadOnlyStorage
}

// newOverlay returns an empty overlay over base, where the original
// catalog is read from.
func newOverlay(base content.ReadOnlyStorage) *overlay {
	return &overlay{Store: memory.New(), base: base}
}

// Exists reports whether the overlay or base has d, so that Rebuild pushes
// only what is new. Only layers are looked up in base: Rebuild always
// writes a new config and manifest. A base that cannot say (a source
// behind registries.conf whose origin is unreachable answers an error
// for what its mirror lacks, the new layer) counts as not having it: the
// blob is then kept in memory, as it is new anyway or was before this
// overlay.
func (o *overlay) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	if ok, err := o.Store.Exists(ctx, d); ok || err != nil {
		return ok, err
	}
	if !isLayer(d.MediaType) {
		return false, nil
	}
	ok, err := o.base.Exists(ctx, d)
	return ok && err == nil, nil
}

// isLayer says whether mediaType is that of an image layer (OCI or
// Docker), not a manifest, index or config.
func isLayer(mediaType string) bool {
	return strings.Contains(mediaType, ".layer.") || strings.Contains(mediaType, ".rootfs.")
}

// Fetch reads d from memory, or else from base.
func (o *overlay) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if ok, _ := o.Store.Exists(ctx, d); ok {
		return o.Store.Fetch(ctx, d)
	}
	return o.base.Fetch(ctx, d)
}
