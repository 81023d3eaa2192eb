// Package operators plans mirror.operators: OLM operator catalogs, filtered
// as oc-mirror v2 does (package catalog), with their bundles and related
// images. It is a [section.Kind].
//
// At pack, each catalog is resolved to a digest once; the archive carries
// the original catalog image (as published, its signature valid), a
// filtered catalog image built from it (catalog.Selection.Rebuild), every
// selected bundle image and related image, and an attachment,
// operators/catalogs.json, recording which roots are which. At unpack the
// filtered catalog is pushed at the catalog's tag (or targetCatalog and
// targetTag), the original beside it under its digest tag, bundles and
// related images under their own repository paths, and a CatalogSource and
// a ClusterCatalog point at the filtered catalog by digest; an
// ImageDigestMirrorSet and ImageTagMirrorSet cover bundles and related
// images.
//
// A bundle whose images did not all reach the archive (a related image that
// could not be read at pack fails that image, not the run) is not offered:
// unpack then filters the original catalog again by the recorded entry,
// without those bundles, and pushes the catalog it builds. So does an
// unpack with -c, whose mirror.operators selects a subset of what the
// archive holds.
//
// A catalog may be read from an OCI image layout ("oci://DIR:tag", with
// targetCatalog naming where it goes); its bundles and related images still
// come from their registries. Catalogs reads the record back for
// enclave-unpack inspect.
//
// Mirror to mirror (a registry destination), the images are placed as
// unpack places them and the kind delivers the cluster resources unpack
// would write (CatalogSource, ClusterCatalog, IDMS/ITMS), named after the
// catalogs record; a catalog whose images did not all arrive is filtered
// again without the bundles concerned and pushed over its tag.
//
// Options.OriginalCatalogSource points the CatalogSource and ClusterCatalog
// at the original catalog instead of the filtered one.
package operators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
	enclaveref "github.com/enclave-mirror/enclave/ref"
)

// AttachCatalogs is the attachment recording the catalogs an archive
// carries.
const AttachCatalogs = "operators/catalogs.json"

// maxCatalogsJSON bounds that attachment at unpack.
const maxCatalogsJSON = 64 << 20

// Kind is mirror.operators as a [section.Kind].
type Kind struct {
	opts Options
}

// Options configure mirror.operators.
type Options struct {
	// OriginalCatalogSource points the CatalogSource and ClusterCatalog
	// unpack writes at the original catalog image, as published (its
	// signature stays valid; it offers every bundle of the catalog,
	// including those not mirrored), instead of the filtered catalog
	// (the default, which offers exactly what was mirrored).
	OriginalCatalogSource bool
}

// New returns mirror.operators with the default options.
func New() *Kind { return &Kind{} }

// NewWithOptions returns mirror.operators configured by o.
func NewWithOptions(o Options) *Kind { return &Kind{opts: o} }

var _ section.Kind = (*Kind)(nil)

// Section returns imageset.SectionOperators.
func (*Kind) Section() imageset.Section { return imageset.SectionOperators }

// record is one catalog in operators/catalogs.json.
type record struct {
	// Catalog is the entry's catalog as written in the configuration.
	Catalog string `json:"catalog"`
	// Source is the catalog reference pinned to the digest it resolved to.
	Source string `json:"source"`
	// Original and Filtered are the digests of the catalog as published
	// and of the filtered catalog (equal when the entry is full: true
	// without packages: the original is mirrored as it is).
	Original digest.Digest `json:"original"`
	Filtered digest.Digest `json:"filtered"`
	// Repository and Tag place the filtered catalog below the
	// destination root.
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	// Template is targetCatalogSourceTemplate's content, if any.
	Template string `json:"template,omitempty"`
	// Packages are the packages and channels the filtered catalog holds.
	Packages []Package `json:"packages"`
	// Images are the bundle and related images carried, as written in the
	// catalog.
	Images []string `json:"images"`
	// Operator is the configuration entry the catalog was filtered by, so
	// that unpack can filter the original again (without the bundles whose
	// images are missing).
	Operator imageset.Operator `json:"operator"`
}

// Package is one package of a filtered catalog, as operators/catalogs.json
// records it.
type Package struct {
	Name           string `json:"name"`
	DefaultChannel string `json:"defaultChannel"`
	// Heads maps each channel kept to its head bundle.
	Heads map[string]string `json:"heads"`
}

// Channels returns the names of the package's channels, sorted.
func (p Package) Channels() []string {
	return slices.Sorted(maps.Keys(p.Heads))
}

// Catalog is one catalog an archive carries, as enclave-unpack inspect
// shows it.
type Catalog struct {
	// Catalog is the reference as written in the configuration.
	Catalog string
	// Source is that reference pinned to the digest it resolved to at pack.
	Source string
	// Filtered is the digest of the filtered catalog the archive carries.
	Filtered digest.Digest
	// Packages are the packages and channels the filtered catalog holds.
	Packages []Package
}

// Catalogs reads the catalogs an archive carries from its
// operators/catalogs.json attachment (bounded); none when it has no such
// attachment. A damaged or undecodable attachment is an ErrIntegrity
// error.
func Catalogs(ctx context.Context, r *archive.Reader) ([]Catalog, error) {
	data, err := r.Attachment(ctx, AttachCatalogs, maxCatalogsJSON)
	if errors.Is(err, archive.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, section.Classed(section.ErrIntegrity, err) // the archive's error names the attachment
	}
	recs, err := decodeRecords(data)
	if err != nil {
		return nil, err
	}
	out := make([]Catalog, 0, len(recs))
	for _, rec := range recs {
		out = append(out, Catalog{Catalog: rec.Catalog, Source: rec.Source, Filtered: rec.Filtered, Packages: rec.Packages})
	}
	return out, nil
}

// openCatalog opens where op's catalog is read from: the source registry,
// or for "oci://DIR:tag" (or "@digest") the OCI image layout DIR, whose
// catalog is then named under imageset.LayoutRegistry at targetCatalog
// (which such a catalog requires) and layout is DIR.
func openCatalog(ctx context.Context, env *section.PackEnv, op imageset.Operator) (ref imageset.Reference, layout string, src oras.ReadOnlyGraphTarget, err error) {
	if !strings.HasPrefix(op.Catalog, "oci://") {
		if ref, err = imageset.ParseReference(op.Catalog); err != nil {
			return ref, "", nil, section.Classed(section.ErrUsage, err)
		}
		s, err := env.Source.Source(ctx, ref)
		if err != nil {
			return ref, "", nil, fmt.Errorf("catalog %s: %w", op.Catalog, err)
		}
		return ref, "", s, nil
	}
	loc, err := enclaveref.ParseLocation(op.Catalog)
	if err != nil {
		return ref, "", nil, section.Classedf(section.ErrUsage, err, "mirror.operators catalog")
	}
	if op.TargetCatalog == "" {
		return ref, "", nil, fmt.Errorf("%w: mirror.operators catalog %s is an OCI image layout: give targetCatalog, the repository to push it to", section.ErrUsage, op.Catalog)
	}
	ref = imageset.Reference{Registry: imageset.LayoutRegistry, Repository: op.TargetCatalog, Tag: loc.Reference.Tag, Digest: loc.Reference.Digest}
	if !ref.HasVersion() {
		return ref, "", nil, fmt.Errorf("%w: mirror.operators catalog %s names no image in the layout: add :tag or @sha256:<digest>", section.ErrUsage, op.Catalog)
	}
	// A missing directory is a local file problem, said so.
	if _, err := os.Stat(loc.Path); err != nil {
		return ref, "", nil, fmt.Errorf("catalog %s: OCI layout: %w", op.Catalog, err)
	}
	if src, err = ocistore.OpenOCILayout(ctx, loc.Path); err != nil {
		return ref, "", nil, fmt.Errorf("catalog %s: open OCI layout: %w", op.Catalog, err)
	}
	return ref, loc.Path, src, nil
}

// Pack resolves and filters each catalog and plans its images.
func (k *Kind) Pack(ctx context.Context, env *section.PackEnv) (*section.PackPlan, error) {
	ops := env.Config.Mirror.Operators
	if len(ops) == 0 {
		return nil, nil
	}
	plan := &section.PackPlan{}
	var records []record
	var placed []placedCatalog
	seen := map[string]int{} // bundle and related image -> its index in plan.Images
	for _, op := range ops {
		ref, layout, src, err := openCatalog(ctx, env, op)
		if err != nil {
			return nil, err
		}
		// Resolved once: a tag that moves later cannot mix two catalogs.
		desc, err := src.Resolve(ctx, ref.Object())
		if err != nil {
			return nil, fmt.Errorf("resolve catalog %s: %w", op.Catalog, err)
		}
		if env.Logf != nil {
			env.Logf("catalog %s is %s", op.Catalog, desc.Digest)
		}
		c, err := catalog.Load(ctx, src, desc)
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", op.Catalog, err)
		}
		sel, err := catalog.Filter(c, op)
		if err != nil {
			return nil, section.Classedf(section.ErrUsage, err, "catalog %s", op.Catalog)
		}
		for _, w := range sel.Warnings {
			if env.Logf != nil {
				env.Logf("catalog %s: %s", op.Catalog, w)
			}
		}
		pinned := ref
		pinned.Digest = desc.Digest
		repo := ref.Repository
		if op.TargetCatalog != "" {
			repo = op.TargetCatalog
		}
		tag := op.TargetTag
		if tag == "" {
			tag = ref.Tag
		}
		rec := record{Catalog: op.Catalog, Source: pinned.String(), Original: desc.Digest, Filtered: desc.Digest, Repository: repo, Tag: tag, Operator: op}
		pc := placedCatalog{original: len(plan.Images), filtered: -1, sel: sel, src: src}
		if sel.Unfiltered {
			pc.filtered = pc.original // the catalog served is the one published
		}
		plan.Images = append(plan.Images, section.Image{Mapping: imageset.Mapping{
			Kind: imageset.KindOperator, Source: pinned, Line: op.Line, Layout: layout,
			Destination: imageset.Reference{Repository: repo, Tag: imageset.DigestTag(desc.Digest), Digest: desc.Digest},
		}})
		if sel.Unfiltered && !env.IntoArchive && tag != "" {
			// Mirror to mirror, the catalog as published is also the one
			// served: at its tag too, as unpack places it.
			pc.filtered = len(plan.Images)
			plan.Images = append(plan.Images, section.Image{Mapping: imageset.Mapping{
				Kind: imageset.KindOperator, Source: pinned, Line: op.Line, Layout: layout,
				Destination: imageset.Reference{Repository: repo, Tag: tag, Digest: desc.Digest},
			}})
		}
		if !sel.Unfiltered {
			store := newOverlay(src)
			fd, err := sel.Rebuild(ctx, store)
			if err != nil {
				return nil, fmt.Errorf("catalog %s: %w", op.Catalog, err)
			}
			rec.Filtered = fd.Digest
			built := imageset.Reference{Registry: ref.Registry, Repository: ref.Repository, Digest: fd.Digest}
			pc.filtered = len(plan.Images)
			plan.Images = append(plan.Images, section.Image{
				Mapping: imageset.Mapping{Kind: imageset.KindOperator, Source: built, Line: op.Line,
					Destination: imageset.Reference{Repository: repo, Tag: tagOr(tag, fd.Digest), Digest: fd.Digest}},
				From: store, Root: fd,
			})
		}
		if rec.Tag == "" {
			rec.Tag = imageset.DigestTag(rec.Filtered)
		}
		if op.TargetCatalogSourceTemplate != "" {
			b, err := readTemplate(op.TargetCatalogSourceTemplate)
			if err != nil {
				return nil, err
			}
			rec.Template = string(b)
		}
		for _, p := range sel.Packages {
			pr := Package{Name: p.Name, DefaultChannel: p.DefaultChannel, Heads: map[string]string{}}
			for _, ch := range p.Channels {
				pr.Heads[ch.Name] = ch.Head
			}
			rec.Packages = append(rec.Packages, pr)
		}
		for _, img := range sel.Images() {
			r, err := imageset.ParseReference(img)
			if err != nil {
				continue // warned by Filter
			}
			rec.Images = append(rec.Images, img)
			if i, ok := seen[img]; ok {
				// In several catalogs: the platforms of each, as
				// oc-mirror merges them.
				plan.Images[i].Mapping.Platforms = mergePlatforms(plan.Images[i].Mapping.Platforms, op.Platforms)
				continue
			}
			seen[img] = len(plan.Images)
			// platforms: bundle and related images are copied sparse, as
			// oc-mirror filters them; the catalog image stays whole (the
			// filtered catalog is rebuilt from every platform of it).
			plan.Images = append(plan.Images, section.Image{Mapping: imageset.Mapping{
				Kind: imageset.KindOperator, Source: r, Line: op.Line, Platforms: op.Platforms,
				Destination: imageset.Reference{Repository: r.Repository, Tag: tagOr(r.Tag, r.Digest), Digest: r.Digest},
			}})
		}
		records = append(records, rec)
		placed = append(placed, pc)
	}
	registry := env.Registry
	plan.Deliver = func(ctx context.Context, results []section.Result) (*section.Delivery, error) {
		b, err := json.MarshalIndent(records, "", "  ")
		if err != nil {
			return nil, err
		}
		if registry != "" {
			m := mirrored{registry: registry, images: plan.Images, index: seen, results: results, id: digest.FromBytes(b), logf: env.Logf}
			return k.deliverToRegistry(ctx, m, records, placed)
		}
		if env.Logf != nil {
			// Said at pack, where the failure is: unpack leaves them out.
			for i, rec := range records {
				for _, p := range placed[i].sel.Packages {
					for _, b := range p.Bundles {
						for _, img := range b.Images() {
							if j, ok := seen[img]; ok && results[j].Err != nil {
								env.Logf("catalog %s: bundle %s is incomplete: its image %s could not be copied; unpack will not offer it", rec.Catalog, b.Name, img)
								break
							}
						}
					}
				}
			}
		}
		return &section.Delivery{Attachments: []section.Attachment{{Name: AttachCatalogs, MediaType: "application/json", Data: b}}}, nil
	}
	return plan, nil
}

// placedCatalog is where a catalog's images are in a pack plan.
type placedCatalog struct {
	// original and filtered are the indexes of the catalog's images in
	// the plan: for a catalog mirrored as published (full: true without
	// packages), filtered is its copy at its tag, or the original itself.
	original, filtered int
	sel                *catalog.Selection
	// src is where the catalog was read from.
	src content.ReadOnlyStorage
}

// mirrored is what a pack into a registry (mirror to mirror) copied.
type mirrored struct {
	registry string
	images   []section.Image
	index    map[string]int // bundle or related image -> index in images
	results  []section.Result
	// id names the cluster resources: the digest of the catalogs record,
	// so that the same catalogs mirrored again update their objects in
	// place and other catalogs get their own (as an archive's digest
	// names those of an unpack).
	id   digest.Digest
	logf section.Logf
}

func (m mirrored) failed(i int) bool { return m.results[i].Err != nil }

// deliverToRegistry returns, for a pack into a registry, the cluster
// resources oc-mirror v2 writes for a mirror to mirror: per catalog a
// CatalogSource and a ClusterCatalog pointing at the filtered catalog (or
// with OriginalCatalogSource the original) by digest, and an
// ImageDigestMirrorSet and ImageTagMirrorSet for the bundles and related
// images. A catalog whose selected images did not all arrive is filtered
// again without the bundles they belong to, and that catalog is pushed
// over the tag (and named by the CatalogSource): the cluster is never
// offered a bundle whose images are missing.
func (k *Kind) deliverToRegistry(ctx context.Context, m mirrored, records []record, placed []placedCatalog) (*section.Delivery, error) {
	d := &section.Delivery{}
	logf := func(format string, args ...any) {
		if m.logf != nil {
			m.logf(format, args...)
		}
	}
	for i, rec := range records {
		pc := placed[i]
		missing := map[string]bool{}
		for _, img := range rec.Images {
			if j, ok := m.index[img]; ok && m.failed(j) {
				missing[img] = true
			}
		}
		image := ""
		switch {
		case k.opts.OriginalCatalogSource:
			if m.failed(pc.original) {
				logf("catalog %s: no CatalogSource: the catalog could not be copied", rec.Catalog)
				continue
			}
			image = m.registry + "/" + rec.Repository + "@" + rec.Original.String()
		case len(missing) > 0:
			bi, fd, err := rebuildWithout(ctx, pc, rec, missing, logf)
			if err != nil {
				return nil, err
			}
			d.Images = append(d.Images, bi)
			image = m.registry + "/" + rec.Repository + "@" + fd.String()
		case m.failed(pc.filtered):
			logf("catalog %s: no CatalogSource: the catalog could not be copied", rec.Catalog)
			continue
		default:
			image = m.registry + "/" + rec.Repository + "@" + rec.Filtered.String()
		}
		name, err := clusterres.CatalogName(m.id, rec.Repository, rec.Tag)
		if err != nil {
			return nil, err
		}
		cs, err := clusterres.CatalogSource(name, image, []byte(rec.Template), !k.opts.OriginalCatalogSource && (len(missing) > 0 || rec.Filtered != rec.Original))
		if err != nil {
			return nil, err
		}
		cc, err := clusterres.ClusterCatalog(name, image)
		if err != nil {
			return nil, err
		}
		d.Resources = append(d.Resources, cs, cc)
	}
	// Catalogs are consumed through their CatalogSource, never through a
	// mirror set (OPERATORS.md 5.3): only bundles and related images.
	var images []section.Placed
	for _, i := range slices.Sorted(maps.Values(m.index)) {
		img := m.images[i]
		dst, err := img.Destination.Under(m.registry)
		if err != nil {
			return nil, section.Classed(section.ErrUsage, err)
		}
		images = append(images, section.Placed{Source: img.Source, Dest: dst.Name(), OK: !m.failed(i)})
	}
	ms, err := section.MirrorSets(clusterres.ArchiveName(m.id)+"-operators", images)
	if err != nil {
		return nil, err
	}
	d.Resources = append(d.Resources, ms...)
	return d, nil
}

// rebuildWithout builds the filtered catalog of pc again without the
// bundles that name a missing image, as an image to push over the
// catalog's tag, and returns it with its digest.
func rebuildWithout(ctx context.Context, pc placedCatalog, rec record, missing map[string]bool, logf section.Logf) (section.BuiltImage, digest.Digest, error) {
	s, err := pc.sel.Without(func(b *catalog.Bundle) bool {
		for _, img := range b.Images() {
			if missing[img] {
				logf("catalog %s: bundle %s is left out: its image %s could not be copied", rec.Catalog, b.Name, img)
				return true
			}
		}
		return false
	})
	if err != nil {
		return section.BuiltImage{}, "", fmt.Errorf("catalog %s: %w", rec.Catalog, err)
	}
	for _, w := range s.Warnings {
		logf("catalog %s: %s", rec.Catalog, w)
	}
	store := newOverlay(pc.src)
	fd, err := s.Rebuild(ctx, store)
	if err != nil {
		return section.BuiltImage{}, "", fmt.Errorf("catalog %s: %w", rec.Catalog, err)
	}
	tag := rec.Tag
	if tag == imageset.DigestTag(rec.Filtered) {
		tag = imageset.DigestTag(fd.Digest) // a catalog by digest: named by its own
	}
	return section.BuiltImage{Repository: rec.Repository, Tag: tag, Push: func(ctx context.Context, dst oras.Target, tag string) error {
		if err := oras.CopyGraph(ctx, store, dst, fd, oras.DefaultCopyGraphOptions); err != nil {
			return fmt.Errorf("push catalog %s filtered without the bundles whose images are missing: %w", rec.Catalog, err)
		}
		if err := dst.Tag(ctx, fd, tag); err != nil {
			return fmt.Errorf("tag catalog %s filtered without the bundles whose images are missing: %w", rec.Catalog, err)
		}
		logf("catalog %s: pushed %s, without the bundles whose images are missing", rec.Catalog, fd.Digest)
		return nil
	}}, fd.Digest, nil
}

func tagOr(tag string, d digest.Digest) string {
	if tag != "" {
		return tag
	}
	return imageset.DigestTag(d)
}

// Unpack claims the catalogs, bundles and related images the attachment
// names and places them. With a configuration (-c), only the catalogs its
// mirror.operators names (by the catalog as written at pack) are pushed,
// filtered again by that entry from the original catalog the archive
// carries: the bundles and related images of that subset are pushed, and
// the filtered catalog pushed matches the subset (it is built at unpack and
// pushed once the other pushes are done). Roots of catalogs not named are
// claimed and not pushed.
func (k *Kind) Unpack(ctx context.Context, env *section.UnpackEnv) (*section.UnpackPlan, error) {
	records, err := readRecords(ctx, env)
	if err != nil || records == nil {
		return nil, err
	}
	byRef := map[string]format.Root{}
	byDigest := map[digest.Digest]format.Root{}
	for _, root := range env.Roots {
		byDigest[root.Descriptor.Digest] = root
		for _, r := range root.References {
			byRef[r] = root
		}
	}
	plan := &section.UnpackPlan{Claimed: map[digest.Digest]bool{}}
	var subsets map[string]imageset.Operator
	if env.Config != nil {
		subsets = map[string]imageset.Operator{}
		for _, op := range env.Config.Mirror.Operators {
			subsets[op.Catalog] = op
		}
	}
	push := true
	placed := map[string]int{}
	// add plans root at repo:tag and returns the index of its push.
	add := func(root format.Root, src imageset.Reference, repo, tag string) (int, error) {
		plan.Claimed[root.Descriptor.Digest] = true
		if !push {
			return -1, nil
		}
		dst, err := imageset.Reference{Repository: repo, Tag: tag}.Under(env.Registry)
		if err != nil {
			return -1, section.Classed(section.ErrUsage, err)
		}
		if i, ok := placed[dst.String()]; ok {
			return i, nil
		}
		placed[dst.String()] = len(plan.Pushes)
		plan.Pushes = append(plan.Pushes, section.Push{Root: root, Source: src, Dest: dst, Tag: tag})
		return len(plan.Pushes) - 1, nil
	}
	type catalogPush struct {
		rec      record
		original int // index of the original catalog's push
		filtered int // index of its push; -1 when built at unpack
		built    *built
	}
	var catalogs []catalogPush
	isCatalog := map[int]bool{}
	for _, rec := range records {
		op, named := subsets[rec.Catalog]
		push = subsets == nil || named
		var sub *built
		src, err := imageset.ParseReference(rec.Source)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", section.ErrIntegrity, AttachCatalogs, err)
		}
		orig, ok := byDigest[rec.Original]
		if !ok {
			return nil, fmt.Errorf("%w: %s names catalog %s, which is not a root of the archive", section.ErrIntegrity, AttachCatalogs, rec.Original)
		}
		oi, err := add(orig, src, rec.Repository, imageset.DigestTag(rec.Original))
		if err != nil {
			return nil, err
		}
		filtered, ok := byDigest[rec.Filtered]
		if !ok {
			return nil, fmt.Errorf("%w: %s names filtered catalog %s, which is not a root of the archive", section.ErrIntegrity, AttachCatalogs, rec.Filtered)
		}
		wanted := map[string]bool(nil)
		fi := -1
		carried := map[string]bool{}
		for _, img := range rec.Images {
			if _, ok := byRef[img]; ok {
				carried[img] = true
			} else if r, err := imageset.ParseReference(img); err == nil && r.Digest != "" {
				if _, ok := byDigest[r.Digest]; ok {
					carried[img] = true
				}
			}
		}
		if !named && len(carried) < len(rec.Images) && push {
			// Some images failed at pack: the catalog carried offers
			// bundles that cannot be installed. Filter the original again
			// without them.
			op, named = rec.Operator, true
		}
		if named {
			if sub, err = subset(ctx, env, rec, orig, op, carried); err != nil {
				return nil, err
			}
			wanted = sub.images
			plan.Claimed[filtered.Descriptor.Digest] = true
		} else {
			fsrc := src
			fsrc.Tag, fsrc.Digest = "", rec.Filtered
			if fi, err = add(filtered, fsrc, rec.Repository, rec.Tag); err != nil {
				return nil, err
			}
		}
		isCatalog[oi] = true
		if fi >= 0 {
			isCatalog[fi] = true
		}
		if push {
			catalogs = append(catalogs, catalogPush{rec, oi, fi, sub})
		}
		for _, img := range rec.Images {
			if wanted != nil && !wanted[img] {
				// Outside the subset: claimed, not pushed.
				if r, err := imageset.ParseReference(img); err == nil {
					if root, ok := byRef[img]; ok {
						plan.Claimed[root.Descriptor.Digest] = true
					} else if root, ok := byDigest[r.Digest]; ok {
						plan.Claimed[root.Descriptor.Digest] = true
					}
				}
				continue
			}
			r, err := imageset.ParseReference(img)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", section.ErrIntegrity, AttachCatalogs, err)
			}
			root, ok := byRef[img]
			if !ok && r.Digest != "" {
				root, ok = byDigest[r.Digest]
			}
			if !ok {
				// Its copy failed at pack: said, not fatal.
				if env.Logf != nil {
					env.Logf("catalog %s: image %s is not in the archive", rec.Catalog, img)
				}
				continue
			}
			if _, err := add(root, r, r.Repository, tagOr(r.Tag, root.Descriptor.Digest)); err != nil {
				return nil, err
			}
		}
	}
	if len(catalogs) == 0 {
		return plan, nil
	}
	pushes := slices.Clone(plan.Pushes)
	plan.Finish = func(ctx context.Context, fenv *section.FinishEnv, results []section.Result) ([]clusterres.Resource, error) {
		var out []clusterres.Resource
		for _, cp := range catalogs {
			var dest imageset.Reference
			filtered := cp.rec.Filtered
			if cp.built != nil {
				d, err := cp.built.push(ctx, fenv, cp.rec)
				if err != nil {
					return nil, err
				}
				dest, filtered = d, cp.built.desc.Digest
			} else {
				if results[cp.filtered].Err != nil {
					continue
				}
				dest = pushes[cp.filtered].Dest
			}
			name, err := clusterres.CatalogName(fenv.ArchiveDigest, dest.Repository, cp.rec.Tag)
			if err != nil {
				return nil, err
			}
			image := dest.Name() + "@" + filtered.String()
			if k.opts.OriginalCatalogSource {
				if results[cp.original].Err != nil {
					continue
				}
				filtered = cp.rec.Original
				image = pushes[cp.original].Dest.Name() + "@" + filtered.String()
			}
			cs, err := clusterres.CatalogSource(name, image, []byte(cp.rec.Template), filtered != cp.rec.Original)
			if err != nil {
				return nil, err
			}
			cc, err := clusterres.ClusterCatalog(name, image)
			if err != nil {
				return nil, err
			}
			out = append(out, cs, cc)
		}
		// Catalogs are consumed through their CatalogSource, never
		// through a mirror set (OPERATORS.md 5.3).
		var placed []section.Placed
		for i, p := range pushes {
			if !isCatalog[i] {
				placed = append(placed, section.Placed{Source: p.Source, Dest: p.Dest.Name(), OK: results[i].Err == nil})
			}
		}
		ms, err := section.MirrorSets(clusterres.ArchiveName(fenv.ArchiveDigest)+"-operators", placed)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
		return out, nil
	}
	return plan, nil
}

// built is a catalog filtered at unpack by the -c configuration.
type built struct {
	store  *overlay
	desc   ocispec.Descriptor
	images map[string]bool
}

// subset filters the original catalog the archive carries by op, and
// builds the filtered catalog of that subset.
func subset(ctx context.Context, env *section.UnpackEnv, rec record, orig format.Root, op imageset.Operator, carried map[string]bool) (*built, error) {
	c, err := catalog.Load(ctx, env.Archive, orig.Descriptor)
	if err != nil {
		return nil, section.Classedf(section.ErrIntegrity, err, "catalog %s in the archive", rec.Catalog)
	}
	s, err := catalog.Filter(c, op)
	if err != nil {
		return nil, section.Classedf(section.ErrUsage, err, "catalog %s", rec.Catalog)
	}
	// A bundle with an image the archive lacks is not offered.
	s, err = s.Without(func(b *catalog.Bundle) bool {
		for _, img := range b.Images() {
			if !carried[img] {
				if env.Logf != nil {
					env.Logf("catalog %s: bundle %s is left out: its image %s is not in the archive", rec.Catalog, b.Name, img)
				}
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", rec.Catalog, err)
	}
	b := &built{store: newOverlay(env.Archive), images: map[string]bool{}}
	for _, img := range s.Images() {
		b.images[img] = true
	}
	if b.desc, err = s.Rebuild(ctx, b.store); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", rec.Catalog, err)
	}
	return b, nil
}

// push copies the catalog built at unpack to its place and returns it.
func (b *built) push(ctx context.Context, fenv *section.FinishEnv, rec record) (imageset.Reference, error) {
	dst, err := imageset.Reference{Repository: rec.Repository, Tag: rec.Tag}.Under(fenv.Registry)
	if err != nil {
		return imageset.Reference{}, section.Classed(section.ErrUsage, err)
	}
	repo, err := fenv.Repository(ctx, dst.Repository)
	if err != nil {
		return imageset.Reference{}, err
	}
	if err := oras.CopyGraph(ctx, b.store, repo, b.desc, oras.DefaultCopyGraphOptions); err != nil {
		return imageset.Reference{}, fmt.Errorf("push filtered catalog %s: %w", dst, err)
	}
	if err := repo.Tag(ctx, b.desc, rec.Tag); err != nil {
		return imageset.Reference{}, fmt.Errorf("tag filtered catalog %s: %w", dst, err)
	}
	if fenv.Logf != nil {
		fenv.Logf("pushed %s (catalog %s filtered by the configuration, %s)", dst, rec.Catalog, b.desc.Digest)
	}
	return dst, nil
}

func readRecords(ctx context.Context, env *section.UnpackEnv) ([]record, error) {
	for _, a := range env.Archive.Manifest().Attachments {
		if a.Name != AttachCatalogs {
			continue
		}
		if a.Size < 0 || a.Size > maxCatalogsJSON {
			return nil, fmt.Errorf("%w: attachment %s is %d bytes, limit %d", section.ErrIntegrity, a.Name, a.Size, maxCatalogsJSON)
		}
		data, err := content.FetchAll(ctx, env.Archive, ocispec.Descriptor{MediaType: a.MediaType, Digest: a.Digest, Size: a.Size})
		if err != nil {
			return nil, section.Classedf(section.ErrIntegrity, err, "attachment %s", a.Name)
		}
		return decodeRecords(data)
	}
	return nil, nil
}

// decodeRecords decodes operators/catalogs.json and checks that each
// record names what unpack and inspect use. Anything else is an
// ErrIntegrity error naming the attachment and the record: pack writes
// the attachment only for catalogs, each record complete.
func decodeRecords(data []byte) ([]record, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: attachment %s: %s: the archive is damaged or was not written by enclave-pack; copy it again or pack it again", section.ErrIntegrity, AttachCatalogs, fmt.Sprintf(format, args...))
	}
	var recs []record
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, bad("%v", err)
	}
	if len(recs) == 0 {
		return nil, bad("it records no catalog")
	}
	for i, rec := range recs {
		if err := rec.validate(); err != nil {
			return nil, bad("catalog %d (%q): %v", i+1, rec.Catalog, err)
		}
	}
	return recs, nil
}

// validate checks the fields of a record that unpack relies on.
func (r record) validate() error {
	if r.Catalog == "" {
		return errors.New("no catalog")
	}
	src, err := imageset.ParseReference(r.Source)
	if err != nil {
		return fmt.Errorf("source %q: %v", r.Source, err)
	}
	if src.Digest == "" {
		return fmt.Errorf("source %q is not pinned to a digest", r.Source)
	}
	if err := r.Original.Validate(); err != nil {
		return fmt.Errorf("original catalog digest %q: %v", r.Original, err)
	}
	if err := r.Filtered.Validate(); err != nil {
		return fmt.Errorf("filtered catalog digest %q: %v", r.Filtered, err)
	}
	if r.Repository == "" {
		return errors.New("no repository")
	}
	if r.Tag == "" {
		return fmt.Errorf("no tag for repository %q", r.Repository)
	}
	if _, err := imageset.ParseReference("registry.invalid/" + r.Repository + ":" + r.Tag); err != nil {
		return fmt.Errorf("repository %q, tag %q: %v", r.Repository, r.Tag, err)
	}
	for _, img := range r.Images {
		if _, err := imageset.ParseReference(img); err != nil {
			return fmt.Errorf("image %q: %v", img, err)
		}
	}
	return nil
}

// maxTemplate bounds a targetCatalogSourceTemplate file.
const maxTemplate = 1 << 20

func readTemplate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: targetCatalogSourceTemplate: %v", section.ErrUsage, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTemplate+1))
	if err != nil {
		return nil, fmt.Errorf("%w: targetCatalogSourceTemplate %s: %v", section.ErrUsage, path, err)
	}
	if len(b) > maxTemplate {
		return nil, fmt.Errorf("%w: targetCatalogSourceTemplate %s is larger than %d bytes", section.ErrUsage, path, maxTemplate)
	}
	return b, nil
}

// mergePlatforms adds to a the filters of b it lacks.
func mergePlatforms(a, b []imageset.PlatformFilter) []imageset.PlatformFilter {
	for _, p := range b {
		if !slices.Contains(a, p) {
			a = append(a, p)
		}
	}
	return a
}
