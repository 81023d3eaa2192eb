package mirror

import (
	"errors"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/enclave-mirror/enclave/imageset"
)

// sparsePlatforms returns the platforms to copy of m's index desc: m's
// platforms (additionalImages[].platforms) when the destination is a
// registry. Into an archive every platform is carried (the archive format
// records no deliberately absent manifest yet), and the progress log says
// so once per image.
func sparsePlatforms(opts PackOptions, m imageset.Mapping, desc ocispec.Descriptor, logf func(string, ...any)) []imageset.PlatformFilter {
	if len(m.Platforms) == 0 || !isIndexType(desc.MediaType) {
		return nil
	}
	if opts.Registry == "" {
		logf("%s: platforms: not applied into an archive yet; every platform of the index is carried", m.Source)
		return nil
	}
	return m.Platforms
}

// sparseRefused explains a destination's refusal of a sparse index: a
// registry that checks every child of an index answers MANIFEST_BLOB_UNKNOWN
// for the children left out.
func sparseRefused(err error, index ocispec.Descriptor, platforms []imageset.PlatformFilter) error {
	if len(platforms) == 0 {
		return err
	}
	var er *errcode.ErrorResponse
	if !errors.As(err, &er) || !slicesContainsCode(er.Errors, errcode.ErrorCodeManifestBlobUnknown) {
		return err
	}
	var names []string
	for _, p := range platforms {
		names = append(names, p.String())
	}
	return fmt.Errorf("%w: index %s with only %s of its platforms: the registry requires every platform's manifest. Allow indexes with absent children there (CNCF distribution: validation.manifests.indexes.platforms: none), or remove platforms: from this entry to copy every platform: %w",
		ErrSparseRefused, index.Digest, strings.Join(names, ", "), err)
}

func slicesContainsCode(errs errcode.Errors, code string) bool {
	for _, e := range errs {
		if e.Code == code {
			return true
		}
	}
	return false
}
