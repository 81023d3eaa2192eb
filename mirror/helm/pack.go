package helm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	charts "github.com/enclave-mirror/enclave/helm"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// LocalChartRegistry is the registry name local charts have in the
// archive: they come from no registry.
const LocalChartRegistry = "local.helm.invalid"

// Pack resolves every chart of mirror.helm (see charts.Plan) and plans the
// charts as artifact roots and their images as images. A chart that fails
// (a missing version, a render error, a bad digest or signature) is one
// failed entry, named; the other charts go on. Deliver writes the record.
func (k *Kind) Pack(ctx context.Context, env *section.PackEnv) (*section.PackPlan, error) {
	h := env.Config.Mirror.Helm
	if h == nil {
		return nil, nil
	}
	po, err := k.planOptions(env)
	if err != nil {
		return nil, err
	}
	additional := map[string]bool{}
	for _, a := range env.Config.Mirror.AdditionalImages {
		additional[a.Name.String()] = true
	}
	planned := charts.Plan(ctx, h, po)
	p := &section.PackPlan{}
	rec := &Record{}
	// slot says which record entry each planned image is: chart's own
	// artifact (empty source) or the image of that source.
	type slot struct {
		chart  int
		source string
	}
	var slots []slot
	imageAt := map[string]int{} // image source -> index in p.Images
	for _, pc := range planned {
		cr := ChartRecord{Repository: pc.Repository, URL: pc.URL, Name: pc.Name, Requested: pc.Version}
		label := chartLabel(pc)
		if pc.Err == nil {
			pc.Err = addChart(ctx, p, &cr, pc, env, additional, imageAt, func(source string) {
				slots = append(slots, slot{len(rec.Charts), source})
			})
		}
		if pc.Err != nil {
			cr.Error = pc.Err.Error()
			env.Logf("helm: %s: %v", label, pc.Err)
			p.Images = append(p.Images, failedChart(pc, label))
			slots = append(slots, slot{len(rec.Charts), ""})
		}
		rec.Charts = append(rec.Charts, cr)
	}
	p.Deliver = func(ctx context.Context, results []section.Result) (*section.Delivery, error) {
		got := map[string]section.Result{}
		for i, r := range results {
			s := slots[i]
			if s.source == "" {
				if r.Err != nil && rec.Charts[s.chart].Error == "" {
					rec.Charts[s.chart].Error = r.Err.Error()
				}
				continue
			}
			got[s.source] = r
		}
		for i := range rec.Charts {
			for j := range rec.Charts[i].Images {
				ir := &rec.Charts[i].Images[j]
				if r, ok := got[ir.Source]; ok {
					if r.Err != nil {
						ir.Error = r.Err.Error()
					} else {
						ir.Digest = r.Digest
					}
				}
			}
		}
		if env.Registry != "" {
			return deliverToRegistry(rec, env.Registry)
		}
		data, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return nil, err
		}
		return &section.Delivery{Attachments: []section.Attachment{{Name: AttachCharts, MediaType: "application/json", Data: append(data, '\n')}}}, nil
	}
	return p, nil
}

func chartLabel(pc charts.PlannedChart) string {
	v := pc.Version
	if pc.Chart != nil {
		v = pc.Chart.Version
	}
	if v == "" {
		v = "(latest)"
	}
	if pc.Repository == "" {
		return fmt.Sprintf("local chart %s %s (%s)", pc.Name, v, pc.URL)
	}
	return fmt.Sprintf("chart %s %s of repository %q (%s)", pc.Name, v, pc.Repository, pc.URL)
}

// addChart plans chart pc and its images.
func addChart(ctx context.Context, p *section.PackPlan, cr *ChartRecord, pc charts.PlannedChart, env *section.PackEnv, additional map[string]bool, imageAt map[string]int, slot func(source string)) error {
	c := pc.Chart
	store := memory.New()
	desc, err := c.Push(ctx, store)
	if err != nil {
		return err
	}
	src, err := chartSource(c, pc.Destination)
	if err != nil {
		return err
	}
	cr.Chart, cr.Version, cr.Kind, cr.Source = c.Name, c.Version, c.Kind, src.String()
	cr.Manifest, cr.Archive, cr.ArchiveSize, cr.Created = desc.Digest, c.Digest(), int64(len(c.Archive)), c.Created
	if c.Provenance != nil {
		cr.Provenance, cr.ProvenanceSize = digest.FromBytes(c.Provenance), int64(len(c.Provenance))
	}
	cr.Destination = pc.Destination.String()
	cr.LintMode, cr.Warnings = pc.Discovery.LintMode, pc.Discovery.Warnings
	// Place every image first: a chart whose image cannot be placed fails
	// whole, before any of its entries is planned.
	dsts := make([]imageset.Reference, len(pc.Discovery.Images))
	for i, img := range pc.Discovery.Images {
		if dsts[i], err = charts.ImageDestination(img.Ref); err != nil {
			return err
		}
	}
	img := section.Image{Mapping: imageset.Mapping{Kind: KindChart, Source: src, Destination: pc.Destination, Line: pc.Line}}
	if c.Kind == charts.SourceOCI {
		// Copied from its registry like any image, pinned to the digest
		// that was rendered: byte for byte, with its referrers
		// (signatures) and through registries.conf mirrors.
		img.Source.Digest = desc.Digest
		cr.Source = img.Source.String()
	} else {
		img.From, img.Root = store, desc
	}
	p.Images = append(p.Images, img)
	slot("")
	env.Logf("helm: chart %s %s -> %s (%s, %d images)", c.Name, c.Version, pc.Destination, desc.Digest, len(pc.Discovery.Images))
	for _, img := range pc.Discovery.TestImages {
		dst, _ := charts.ImageDestination(img.Ref)
		cr.TestImages = append(cr.TestImages, ImageRecord{Source: img.Ref.String(), Destination: dst.String(), Found: img.Found})
	}
	for i, img := range pc.Discovery.Images {
		source, dst := img.Ref.String(), dsts[i]
		if b, ok := blocked(env.Config, img.Ref); ok {
			p.Blocked = append(p.Blocked, imageset.Blocked{Kind: KindImage, Source: img.Ref, Pattern: b.Pattern.String(), Line: b.Line})
			continue
		}
		cr.Images = append(cr.Images, ImageRecord{Source: source, Destination: dst.String(), Shared: additional[source], Found: img.Found})
		env.Logf("helm:   image %s -> %s (%s)", source, dst, how(img.Found))
		if _, ok := imageAt[source]; ok {
			continue
		}
		imageAt[source] = len(p.Images)
		p.Images = append(p.Images, section.Image{Mapping: imageset.Mapping{Kind: KindImage, Source: img.Ref, Destination: dst, Platforms: pc.Platforms, Line: pc.Line}})
		slot(source)
	}
	return nil
}

func how(ws []charts.Where) string {
	var parts []string
	for _, w := range ws {
		s := string(w.Method) + " " + w.Template
		if w.Hook != "" {
			s += " (hook " + w.Hook + ")"
		}
		parts = append(parts, s)
		if len(parts) == 2 && len(ws) > 2 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ws)-2))
			break
		}
	}
	return strings.Join(parts, "; ")
}

func blocked(c *imageset.Config, r imageset.Reference) (imageset.BlockedImage, bool) {
	for _, b := range c.Mirror.BlockedImages {
		if b.Pattern.MatchString(r.String()) {
			return b, true
		}
	}
	return imageset.BlockedImage{}, false
}

// chartSource is the reference a chart root has in the archive: an OCI
// chart's own; an HTTP chart's repository host and path with the chart
// name; a local chart under LocalChartRegistry.
func chartSource(c *charts.Chart, dst imageset.Reference) (imageset.Reference, error) {
	switch c.Kind {
	case charts.SourceOCI:
		return imageset.ParseReference(strings.TrimPrefix(c.Source, "oci://"))
	case charts.SourceHTTP:
		u, err := url.Parse(c.Repository)
		if err != nil {
			return imageset.Reference{}, err
		}
		_, rest, _ := strings.Cut(dst.Repository, "/")
		return imageset.Reference{Registry: strings.ToLower(u.Host), Repository: rest, Tag: dst.Tag}, nil
	default:
		_, rest, _ := strings.Cut(dst.Repository, "/")
		return imageset.Reference{Registry: LocalChartRegistry, Repository: rest, Tag: dst.Tag}, nil
	}
}

// failedChart is a planned entry that fails when copied, so that a chart
// that could not be resolved is reported among the failures, named, and
// the run goes on with the others.
func failedChart(pc charts.PlannedChart, label string) section.Image {
	name := strings.ToLower(pc.Name)
	src := imageset.Reference{Registry: "failed.helm.invalid", Repository: "chart", Tag: "unresolved"}
	if r, err := imageset.ParseReference("failed.helm.invalid/" + name + ":unresolved"); err == nil {
		src = r
	}
	err := fmt.Errorf("helm: %s: %w", label, pc.Err)
	return section.Image{
		Mapping: imageset.Mapping{Kind: KindChart, Source: src, Destination: imageset.Reference{Repository: src.Repository, Tag: src.Tag}, Line: pc.Line},
		From:    failed{err}, Root: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(label), Size: 1},
	}
}

// failed is a source that fails every read with err.
type failed struct{ err error }

func (f failed) Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error) { return nil, f.err }
func (f failed) Exists(context.Context, ocispec.Descriptor) (bool, error)         { return false, f.err }
func (f failed) Resolve(context.Context, string) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, f.err
}
func (f failed) Predecessors(context.Context, ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return nil, f.err
}

// deliverToRegistry returns, for a pack into a registry (mirror to mirror),
// the IDMS/ITMS an unpack of the same record writes: the images of the
// charts that arrived whose copy succeeded, named "-helm" after the images
// the record places ([section.ContentName]).
func deliverToRegistry(rec *Record, registry string) (*section.Delivery, error) {
	var placed []section.Placed
	var lines []string
	for _, c := range rec.Charts {
		if c.Destination != "" {
			lines = append(lines, c.Source+" -> "+registry+"/"+c.Destination)
		}
		for _, img := range c.Images {
			lines = append(lines, img.Source+" -> "+registry+"/"+img.Destination)
			if c.Error != "" || img.Digest == "" {
				continue // unpack pushes none of these
			}
			src, err := imageset.ParseReference(img.Source)
			if err != nil {
				return nil, err
			}
			dst, err := parseRelative(img.Destination)
			if err != nil {
				return nil, err
			}
			d, err := imageset.Reference{Repository: dst.Repository, Tag: dst.Tag}.Under(registry)
			if err != nil {
				return nil, section.Classed(section.ErrUsage, err)
			}
			placed = append(placed, section.Placed{Source: src, Dest: d.Name(), OK: true})
		}
	}
	rs, err := section.MirrorSets(section.ContentName(lines)+"-helm", placed)
	if err != nil {
		return nil, err
	}
	return &section.Delivery{Resources: rs}, nil
}
