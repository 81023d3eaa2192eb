//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/catalog/catalogtest"
)

// The operator catalog of the bench: what a pack of mirror.operators costs
// per image, beside the same images as additionalImages. Bytes are not the
// point (each image is a shared config and one 256-byte layer of its own),
// the per-image work is: resolving, reading the manifest, referrers and
// cosign tags, recording the root, and, for the catalog, reading the FBC,
// filtering and rebuilding it.
//
// Layout, for N related images (-operator-images): N/100 packages (at least
// one), each with one channel "stable" of two bundles (v1, replaced by v2),
// each bundle with an equal share of the related images, spread over five
// operand repositories per package and referenced by digest, as real
// catalogs reference them. The configuration lists every package with
// full: true, so every bundle is selected and the catalog is filtered and
// rebuilt (a catalog without packages would be mirrored as published).

// Layout constants of the generated catalog.
const (
	opsRelatedPerPackage = 100
	opsBundlesPerPackage = 2
	opsOperandRepos      = 5
	opsLayerBytes        = 256
	opsCatalogRepo       = "bench-ops/catalog"
	opsCatalogTag        = "v1"
	opsSeedWorkers       = 8
)

// opsContent is what seedOperators pushed, remembered in the work
// directory so that a rerun with the same options skips seeding.
type opsContent struct {
	Options string `json:"options"`
	// Images are the bundle and related images, by digest, without the
	// registry host ("bench-ops/p000-bundle@sha256:...").
	Images []string `json:"images"`
	// Packages are the package names of the catalog.
	Packages []string `json:"packages"`
	// Bytes are the unique bytes of the bundle and related images
	// (manifests, the shared config once, layers).
	Bytes int64         `json:"bytes"`
	Took  time.Duration `json:"took"`
}

// selected says whether any run selected has need.
func selected(filter func(string) bool, need func(runSpec) bool) bool {
	for _, rs := range runs {
		if need(rs) && filter(rs.Name) {
			return true
		}
	}
	return false
}

// seedOperators pushes the catalog, its bundles and related images into
// the source registry (or finds them there), writes the two
// configurations ({isc:operators}, {isc:operators-additional}) and
// returns a line describing the content.
func (b *bench) seedOperators(ctx context.Context) (string, error) {
	n := b.cfg.operatorImages
	key := fmt.Sprintf("seed=%d operator-images=%d", b.cfg.seed, n)
	stateFile := filepath.Join(b.work, "operators.json")
	var s opsContent
	if data, err := os.ReadFile(stateFile); err == nil && json.Unmarshal(data, &s) == nil && s.Options == key {
		b.logf("reusing the operator catalog seeded in %s", b.work)
	} else {
		os.Remove(stateFile)
		start := time.Now()
		var err error
		if s, err = generateOperators(ctx, b.src.Host, b.cfg.seed, n, b.logf); err != nil {
			return "", fmt.Errorf("seed the operator catalog: %w", err)
		}
		s.Options, s.Took = key, time.Since(start)
		data, err := json.Marshal(s)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(stateFile, data, 0o644); err != nil {
			return "", err
		}
	}
	// The catalog names its images with the registry's address, which a
	// rerun gets anew: it is pushed for this one (the images are kept).
	if err := pushOpsCatalog(ctx, b.src.Host, s, b.logf); err != nil {
		return "", fmt.Errorf("push the operator catalog: %w", err)
	}
	b.ops = &s
	b.isc["operators"] = filepath.Join(b.work, "isc-operators.yaml")
	b.isc["operators-additional"] = filepath.Join(b.work, "isc-operators-additional.yaml")
	if err := writeOperatorsISC(b.isc["operators"], b.src.Host+"/"+opsCatalogRepo+":"+opsCatalogTag, s.Packages, true); err != nil {
		return "", err
	}
	var ab strings.Builder
	ab.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for _, im := range s.Images {
		fmt.Fprintf(&ab, "  - name: %s/%s\n", b.src.Host, im)
	}
	if err := os.WriteFile(b.isc["operators-additional"], []byte(ab.String()), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("operator catalog: %d packages, %d bundles, %d related images (%d images to carry, %s unique); seeding it took %s",
		len(s.Packages), len(s.Packages)*opsBundlesPerPackage, len(s.Images)-len(s.Packages)*opsBundlesPerPackage,
		len(s.Images), fmtBytes(s.Bytes), s.Took.Round(time.Second)), nil
}

// writeOperatorsISC writes a configuration that selects packages of
// catalog, whole with full (so that the catalog is filtered and rebuilt
// and every bundle of those packages selected), else their channel heads.
func writeOperatorsISC(path, catalog string, packages []string, full bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: %s\n    full: %v\n    packages:\n", catalog, full)
	for _, p := range packages {
		fmt.Fprintf(&b, "    - name: %s\n", p)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// generateOperators pushes the bundle and related images of the bench
// catalog for n related images to the registry at host (pushOpsCatalog
// then pushes the catalog). Same seed and n, same digests.
func generateOperators(ctx context.Context, host string, seed uint64, n int, logf func(string, ...any)) (opsContent, error) {
	var s opsContent
	repos := map[string]*remote.Repository{}
	var mu sync.Mutex
	repo := func(name string) (*remote.Repository, error) {
		mu.Lock()
		defer mu.Unlock()
		if r, ok := repos[name]; ok {
			return r, nil
		}
		r, err := remote.NewRepository(host + "/" + name)
		if err != nil {
			return nil, err
		}
		r.PlainHTTP = true
		repos[name] = r
		return r, nil
	}
	pkgs := max(1, n/opsRelatedPerPackage)
	type job struct {
		repo string
		seed uint64
		out  *string
	}
	var jobs []job
	refs := make([]string, pkgs*opsBundlesPerPackage+n)
	next := 0
	for p := range pkgs {
		s.Packages = append(s.Packages, fmt.Sprintf("p%03d", p))
		for range opsBundlesPerPackage {
			jobs = append(jobs, job{fmt.Sprintf("bench-ops/p%03d-bundle", p), seed<<32 | uint64(next), &refs[next]})
			next++
		}
	}
	nb := pkgs * opsBundlesPerPackage
	for i := range n {
		// Related image i belongs to bundle i mod bundles, so that they
		// are spread evenly (pushOpsCatalog lists them so).
		p := (i % nb) / opsBundlesPerPackage
		jobs = append(jobs, job{fmt.Sprintf("bench-ops/p%03d-operand-%d", p, i%opsOperandRepos), seed<<32 | uint64(next), &refs[next]})
		next++
	}
	var bytes int64
	var done int
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opsSeedWorkers)
	for _, j := range jobs {
		g.Go(func() error {
			r, err := repo(j.repo)
			if err != nil {
				return err
			}
			layer := archivetest.Blob(j.seed, opsLayerBytes, false)
			d, err := archivetest.Image(gctx, r, "amd64", layer)
			if err != nil {
				return fmt.Errorf("%s: %w", j.repo, err)
			}
			*j.out = j.repo + "@" + d.Digest.String()
			mu.Lock()
			bytes += d.Size + int64(len(layer))
			done++
			if done%1000 == 0 {
				logf("operator catalog: %d of %d images pushed", done, len(jobs))
			}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return s, err
	}
	// The config all images share, once.
	cfg, err := sharedConfigSize()
	if err != nil {
		return s, err
	}
	s.Bytes = bytes + cfg
	s.Images = refs
	return s, nil
}

// pushOpsCatalog pushes the catalog of s, whose images are on host, and
// tags it: per package its channel and two bundles, each listing its
// bundle image and its share of the related images.
func pushOpsCatalog(ctx context.Context, host string, s opsContent, logf func(string, ...any)) error {
	nb := len(s.Packages) * opsBundlesPerPackage
	if nb == 0 || len(s.Images) < nb {
		return fmt.Errorf("%d images for %d bundles", len(s.Images), nb)
	}
	related := make([][]string, nb)
	for i, im := range s.Images[nb:] {
		related[i%nb] = append(related[i%nb], host+"/"+im)
	}
	files := map[string][]byte{}
	for p, name := range s.Packages {
		var entries, docs []string
		for bi := range opsBundlesPerPackage {
			k := p*opsBundlesPerPackage + bi
			bname := fmt.Sprintf("%s.v%d.0.0", name, bi+1)
			entries = append(entries, bname)
			docs = append(docs, catalogtest.Bundle(name, bname, fmt.Sprintf("%d.0.0", bi+1), host+"/"+s.Images[k], related[k]...))
		}
		files[name+"/catalog.json"] = []byte(catalogtest.Package(name, "stable", entries...) + "\n" + strings.Join(docs, "\n") + "\n")
	}
	cr, err := remote.NewRepository(host + "/" + opsCatalogRepo)
	if err != nil {
		return err
	}
	cr.PlainHTTP = true
	cd, err := catalogtest.Image(ctx, cr, "amd64", files)
	if err != nil {
		return fmt.Errorf("catalog image: %w", err)
	}
	if err := cr.Tag(ctx, cd, opsCatalogTag); err != nil {
		return fmt.Errorf("tag the catalog: %w", err)
	}
	logf("operator catalog %s/%s:%s is %s", host, opsCatalogRepo, opsCatalogTag, cd.Digest)
	return nil
}

// sharedConfigSize is the size of the config archivetest.Image gives every
// amd64 image.
func sharedConfigSize() (int64, error) {
	var c countingPusher
	if _, err := archivetest.Image(context.Background(), &c, "amd64"); err != nil {
		return 0, err
	}
	return c.config, nil
}

// countingPusher records the size of the config pushed to it.
type countingPusher struct{ config int64 }

func (c *countingPusher) Push(_ context.Context, d ocispec.Descriptor, _ io.Reader) error {
	if d.MediaType == ocispec.MediaTypeImageConfig {
		c.config = d.Size
	}
	return nil
}
