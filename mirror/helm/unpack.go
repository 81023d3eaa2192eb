package helm

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/clusterres"
	"github.com/enclave-mirror/enclave/format"
	charts "github.com/enclave-mirror/enclave/helm"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// Unpack claims the roots the record names (chart artifacts, and images
// not also named by mirror.additionalImages) and places the selected
// charts and their images. It reads the record only: no chart source is
// contacted and nothing is rendered.
func (k *Kind) Unpack(ctx context.Context, env *section.UnpackEnv) (*section.UnpackPlan, error) {
	rec, err := readRecord(ctx, env.Archive)
	if err != nil || rec == nil {
		return nil, err
	}
	roots := map[digest.Digest]format.Root{}
	for _, r := range env.Roots {
		roots[r.Descriptor.Digest] = r
	}
	plan := &section.UnpackPlan{Claimed: map[digest.Digest]bool{}}
	for _, c := range rec.Charts {
		if c.Error != "" {
			continue
		}
		if _, ok := roots[c.Manifest]; ok {
			plan.Claimed[c.Manifest] = true
		}
		for _, img := range c.Images {
			if _, ok := roots[img.Digest]; ok && img.Digest != "" && !img.Shared {
				plan.Claimed[img.Digest] = true
			}
		}
	}
	selected, err := selectCharts(rec, env.Config)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var images []section.Push
	for _, c := range selected {
		root, ok := roots[c.Manifest]
		if !ok {
			return nil, fmt.Errorf("%w: %s records chart %s %s as %s, which is not a root of the archive", section.ErrIntegrity, AttachCharts, c.Chart, c.Version, c.Manifest)
		}
		p, err := newPush(root, c.Source, c.Destination, env.Registry)
		if err != nil {
			return nil, err
		}
		if !seen[p.Dest.String()] {
			seen[p.Dest.String()] = true
			plan.Pushes = append(plan.Pushes, p)
		}
		env.Logf("helm: chart %s %s -> %s", c.Chart, c.Version, p.Dest)
		for _, img := range c.Images {
			if img.Digest == "" {
				continue // its copy failed at pack
			}
			root, ok := roots[img.Digest]
			if !ok {
				return nil, fmt.Errorf("%w: %s records image %s of chart %s as %s, which is not a root of the archive", section.ErrIntegrity, AttachCharts, img.Source, c.Chart, img.Digest)
			}
			p, err := newPush(root, img.Source, img.Destination, env.Registry)
			if err != nil {
				return nil, err
			}
			if !seen[p.Dest.String()] {
				seen[p.Dest.String()] = true
				plan.Pushes = append(plan.Pushes, p)
				images = append(images, p)
			}
		}
	}
	finish := mirrorSets(plan.Pushes, images)
	plan.Finish = finish
	if dir := k.opts.RepositoryDir; dir != "" {
		plan.Finish = func(ctx context.Context, fenv *section.FinishEnv, results []section.Result) ([]clusterres.Resource, error) {
			res, err := finish(ctx, fenv, results)
			if err != nil {
				return nil, err
			}
			if err := writeRepository(ctx, env.Archive, dir, selected); err != nil {
				return nil, err
			}
			env.Logf("helm: wrote the chart repository %s (%d charts)", dir, len(selected))
			return res, nil
		}
	}
	return plan, nil
}

// writeRepository writes the charts, read back from the archive, as a
// classic chart repository directory.
func writeRepository(ctx context.Context, a *archive.Reader, dir string, recs []ChartRecord) error {
	fetch := func(d digest.Digest, size int64, what string) ([]byte, error) {
		if size < 0 || size > charts.DefaultMaxChartBytes {
			return nil, fmt.Errorf("%w: %s: %s is %d bytes", section.ErrIntegrity, AttachCharts, what, size)
		}
		b, err := content.FetchAll(ctx, a, ocispec.Descriptor{Digest: d, Size: size})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", section.ErrIntegrity, what, err)
		}
		return b, nil
	}
	var list []*charts.Chart
	for _, r := range recs {
		what := fmt.Sprintf("chart %s %s", r.Chart, r.Version)
		tgz, err := fetch(r.Archive, r.ArchiveSize, what)
		if err != nil {
			return err
		}
		var prov []byte
		if r.Provenance != "" {
			if prov, err = fetch(r.Provenance, r.ProvenanceSize, what+" provenance"); err != nil {
				return err
			}
		}
		c, err := charts.FromArchive(tgz, prov, r.Created, r.Source)
		if err != nil {
			return fmt.Errorf("%w: %v", section.ErrIntegrity, err)
		}
		list = append(list, c)
	}
	if err := charts.WriteRepository(dir, list); err != nil {
		return fmt.Errorf("%w: %v", section.ErrUsage, err)
	}
	return nil
}

// newPush places root, recorded as source, at rel ("path:tag" or
// "path@digest") below the destination registry root.
func newPush(root format.Root, source, rel, registry string) (section.Push, error) {
	src, err := imageset.ParseReference(source)
	if err != nil {
		return section.Push{}, fmt.Errorf("%w: %s: %v", section.ErrIntegrity, AttachCharts, err)
	}
	dst, err := parseRelative(rel)
	if err != nil {
		return section.Push{}, fmt.Errorf("%w: %s: destination %q: %v", section.ErrIntegrity, AttachCharts, rel, err)
	}
	dst.Digest = ""
	if dst.Tag == "" {
		dst.Tag = imageset.DigestTag(root.Descriptor.Digest)
	}
	d, err := dst.Under(registry)
	if err != nil {
		return section.Push{}, fmt.Errorf("%w: %v", section.ErrUsage, err)
	}
	return section.Push{Root: root, Source: src, Dest: d, Tag: dst.Tag}, nil
}

// parseRelative parses "path[:tag][@digest]" without a registry.
func parseRelative(s string) (imageset.Reference, error) {
	var r imageset.Reference
	if i := strings.IndexByte(s, '@'); i >= 0 {
		d, err := imageset.ParseDigest(s[i+1:])
		if err != nil {
			return r, err
		}
		r.Digest, s = d, s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		r.Tag, s = s[i+1:], s[:i]
		if err := imageset.ValidateTag(r.Tag); err != nil {
			return r, err
		}
	}
	if err := imageset.ValidateRepositoryPath(s); err != nil {
		return r, err
	}
	r.Repository = s
	return r, nil
}

// selectCharts returns the recorded charts to push: all of them without a
// configuration; with one, those its mirror.helm names (none without a
// helm section). A chart the configuration names that the archive does
// not hold is an ErrPrerequisites error.
func selectCharts(rec *Record, cfg *imageset.Config) ([]ChartRecord, error) {
	var ok []ChartRecord
	for _, c := range rec.Charts {
		if c.Error == "" {
			ok = append(ok, c)
		}
	}
	if cfg == nil {
		return ok, nil
	}
	h := cfg.Mirror.Helm
	if h == nil {
		return nil, nil
	}
	picked := map[int]bool{}
	var missing []string
	for _, r := range h.Repositories {
		if len(r.Charts) == 0 {
			for i, c := range ok {
				if c.Repository == r.Name {
					picked[i] = true
				}
			}
			continue
		}
		for _, ch := range r.Charts {
			if !pick(ok, picked, func(c ChartRecord) bool { return c.Repository == r.Name && c.Name == ch.Name }, ch.Version) {
				missing = append(missing, fmt.Sprintf("chart %s %q of repository %q", ch.Name, ch.Version, r.Name))
			}
		}
	}
	for _, l := range h.Local {
		if !pick(ok, picked, func(c ChartRecord) bool { return c.Repository == "" && c.Name == l.Name }, "") {
			missing = append(missing, fmt.Sprintf("local chart %s", l.Name))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: the archive does not hold %s", section.ErrPrerequisites, strings.Join(missing, ", "))
	}
	var out []ChartRecord
	for i, c := range ok {
		if picked[i] {
			out = append(out, c)
		}
	}
	return out, nil
}

// pick selects, among the records match accepts, those recorded for the
// same requested version, or else the one version selects among them
// (the version resolved at pack is never resolved again against a source).
func pick(recs []ChartRecord, picked map[int]bool, match func(ChartRecord) bool, version string) bool {
	var idx []int
	var versions []string
	found := false
	for i, c := range recs {
		if !match(c) {
			continue
		}
		idx = append(idx, i)
		versions = append(versions, c.Version)
		if c.Requested == version {
			picked[i], found = true, true
		}
	}
	if found || len(idx) == 0 {
		return found
	}
	v, err := charts.SelectVersion(versions, version)
	if err != nil {
		return false
	}
	i := idx[slices.Index(versions, v)]
	picked[i] = true
	return true
}

// mirrorSets returns the Finish of an unpack: an ImageDigestMirrorSet and
// an ImageTagMirrorSet (named after the archive, "-helm") for the chart
// images pushed.
func mirrorSets(all, images []section.Push) func(context.Context, *section.FinishEnv, []section.Result) ([]clusterres.Resource, error) {
	return func(ctx context.Context, env *section.FinishEnv, results []section.Result) ([]clusterres.Resource, error) {
		ok := map[string]bool{}
		for i, p := range all {
			if results[i].Err == nil {
				ok[p.Dest.String()] = true
			}
		}
		placed := make([]section.Placed, len(images))
		for i, p := range images {
			placed[i] = section.Placed{Source: p.Source, Dest: p.Dest.Name(), OK: ok[p.Dest.String()]}
		}
		return section.MirrorSets(clusterres.ArchiveName(env.ArchiveDigest)+"-helm", placed)
	}
}
