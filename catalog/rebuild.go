package catalog

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/ocigraph"
)

// DefaultCacheDir is where Red Hat and opm-generated index images keep the
// pre-built serve cache (opm serve --cache-dir).
const DefaultCacheDir = "/tmp/cache"

// Rebuild builds the filtered catalog image: every platform image of the
// original (an index is rebuilt platform by platform, all with the same new
// layer) gets one more layer that replaces the configs directory with the
// filtered catalog (an opaque whiteout plus the files of [Selection.WriteDir])
// and whites out the pre-built serve cache, and a config whose command no
// longer names that cache. It pushes what dst lacks (the original layers
// included) and returns the new manifest or index descriptor.
//
// The cache: the original image ships a cache built for the unfiltered
// catalog, and opm serve with --cache-dir and integrity enforcement exits
// on the digest mismatch (OCPBUGS-12236, -19060). As oc-mirror v2 does, the
// command becomes "serve <configs dir>" without --cache-dir, so opm builds
// a private cache at start; unlike oc-mirror, the stale cache directory is
// also whited out, so a CatalogSource whose grpcPodConfig.extractContent
// names it cannot pick it up. Flags after "serve" in the entrypoint are
// cleaned the same way.
//
// The output depends only on the original image and the selection: fixed
// tar headers (root, 0755/0644, epoch times), gzip without name or time.
func (s *Selection) Rebuild(ctx context.Context, dst content.Storage) (ocispec.Descriptor, error) {
	c := s.Catalog
	entrypoint, cmd, caches := serveCommand(c.Config.Entrypoint, c.Config.Cmd, c.Dir)
	dir := cleanPath(c.Dir)
	caches = slices.DeleteFunc(caches, func(p string) bool { return p == "" || p == dir || strings.HasPrefix(p, dir+"/") })

	f, err := s.build(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer f.Close()
	tmp, err := os.CreateTemp("", "enclave-layer-*")
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("catalog: layer file: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	gzDigest := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(tmp, gzDigest))
	tarDigest := sha256.New()
	if err := writeTar(io.MultiWriter(gz, tarDigest), dir, f, caches); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := gz.Close(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("catalog: compressing layer: %w", err)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("catalog: layer file: %w", err)
	}
	layer := ocigraph.Layer{
		Descriptor: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageLayerGzip,
			Digest:    digest.NewDigestFromBytes(digest.SHA256, gzDigest.Sum(nil)),
			Size:      size,
		},
		DiffID: digest.NewDigestFromBytes(digest.SHA256, tarDigest.Sum(nil)),
		Open: func() (io.ReadCloser, error) {
			return io.NopCloser(io.NewSectionReader(tmp, 0, size)), nil
		},
		History: ocispec.History{
			CreatedBy: fmt.Sprintf("enclave: %s replaced by the filtered file-based catalog; serve cache %s whited out", c.Dir, strings.Join(caches, ", ")),
			Comment:   "filtered from " + c.Image.Digest.String(),
		},
	}
	return ocigraph.Assemble(ctx, c.src, c.Image, dst, ocigraph.Change{
		Layers: []ocigraph.Layer{layer},
		Config: func(ic *ocispec.ImageConfig) error {
			ic.Entrypoint, ic.Cmd = entrypoint, cmd
			return nil
		},
	})
}

// serveCommand removes the serve cache flags (--cache-dir,
// --cache-enforce-integrity, --cache-only) from an image's entrypoint and
// command, and returns the new ones with the cache directories the old ones
// named (relative, cleaned; DefaultCacheDir always among them). When
// neither runs serve, the command becomes ["serve", dir], as oc-mirror
// writes it; for the usual ["serve", "/configs", "--cache-dir=/tmp/cache"]
// both give ["serve", "/configs"].
func serveCommand(entrypoint, cmd []string, dir string) ([]string, []string, []string) {
	caches := []string{cleanPath(DefaultCacheDir)}
	strip := func(args []string) []string {
		var out []string
		for i := 0; i < len(args); i++ {
			a := args[i]
			switch {
			case a == "--cache-dir" && i+1 < len(args):
				caches = append(caches, cleanPath(args[i+1]))
				i++
			case strings.HasPrefix(a, "--cache-dir="):
				caches = append(caches, cleanPath(strings.TrimPrefix(a, "--cache-dir=")))
			case a == "--cache-only", strings.HasPrefix(a, "--cache-enforce-integrity"):
			default:
				out = append(out, a)
			}
		}
		return out
	}
	ep := strip(entrypoint)
	switch {
	case slices.Contains(ep, "serve"), slices.Contains(cmd, "serve"):
		// The serve command is there: keep it and its other flags.
		cmd = strip(cmd)
	default:
		cmd = []string{"serve", dir}
	}
	slices.Sort(caches)
	caches = slices.Compact(caches)
	for i, c := range caches {
		caches[i] = path.Clean(c)
	}
	return ep, cmd, caches
}
