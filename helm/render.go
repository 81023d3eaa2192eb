package helm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
)

// DefaultKubeVersion is the Kubernetes version charts are rendered for
// when [RenderOptions.KubeVersion] is empty. It is pinned, not taken from
// Helm's defaults, which differ between tests (v1.20) and binaries.
const DefaultKubeVersion = "v1.33.0"

// DefaultReleaseName and DefaultNamespace are the release name and
// namespace charts are rendered with by default, as helm template does.
const (
	DefaultReleaseName = "release-name"
	DefaultNamespace   = "default"
)

// RenderOptions are per-call parameters of [FindImages]. The zero value
// renders with the chart's default values for [DefaultKubeVersion].
type RenderOptions struct {
	// Values are merged in order over the chart's default values, as helm
	// -f merges values files: values files first, inline values last.
	Values []map[string]any
	// KubeVersion is .Capabilities.KubeVersion; empty means
	// [DefaultKubeVersion].
	KubeVersion string
	// APIVersions are added to .Capabilities.APIVersions, which holds
	// every built-in Kubernetes API group/version (for charts that render
	// custom resources only when their API is present, such as
	// "monitoring.coreos.com/v1").
	APIVersions []string
	// ReleaseName and Namespace default to DefaultReleaseName and
	// DefaultNamespace.
	ReleaseName, Namespace string
	// ImagePaths are extra JSONPath templates evaluated on every rendered
	// object (oc-mirror's imagePaths); what they select that parses as an
	// image reference is an image.
	ImagePaths []string
	// IncludeTests counts images that only `helm test` hooks use among
	// [Discovery.Images]; by default they are listed in
	// [Discovery.TestImages] only.
	IncludeTests bool
	// Limits bound the rendered output and the render time.
	Limits Limits
}

// Method says how an image was found.
type Method string

// Methods.
const (
	// FoundImageField is an "image" field of a rendered object: a
	// container of any pod spec (Pod, Deployment, StatefulSet, DaemonSet,
	// ReplicaSet, Job, CronJob; containers, initContainers,
	// ephemeralContainers), an image volume, or a custom resource field
	// (Prometheus spec.image). A mapping with repository (and registry,
	// tag, digest) is composed into a reference.
	FoundImageField Method = "image-field"
	// FoundInferred is a registry-qualified reference with a tag or
	// digest inside another string (an argument such as
	// --acmesolver-image=quay.io/x:v1, an environment variable, a
	// ConfigMap value). Confirm that it exists before relying on it.
	FoundInferred Method = "inferred"
	// FoundImagePath is a value selected by one of the configured
	// ImagePaths.
	FoundImagePath Method = "image-path"
	// FoundAnnotation is an entry of a chart's helm.sh/images,
	// artifacthub.io/images or images annotation.
	FoundAnnotation Method = "annotation"
)

// Where is one place an image was found.
type Where struct {
	Method Method
	// Template is the rendered template ("podinfo/templates/deployment.yaml",
	// subcharts as "parent/charts/sub/templates/x.yaml"), or the chart's
	// "<chart path>/Chart.yaml" for annotations.
	Template string
	// Kind and Name identify the rendered object (empty for annotations).
	Kind, Name string `json:",omitempty"`
	// Path is the field's path in the object
	// ("spec.template.spec.containers[0].image"), the JSONPath for
	// FoundImagePath, or the annotation key.
	Path string
	// Hook is the object's helm.sh/hook annotation, empty for release
	// resources.
	Hook string `json:",omitempty"`
}

// Discovery is what [FindImages] found in one chart.
type Discovery struct {
	Chart, Version string
	// Images are the images the chart deploys, hooks included, sorted by
	// reference.
	Images []Image
	// TestImages are images only `helm test` hooks use (empty with
	// RenderOptions.IncludeTests).
	TestImages []Image `json:",omitempty"`
	// LintMode is set when the chart rendered only with `required` and
	// `fail` turned into warnings (values it needs were not given); the
	// reason is in Warnings.
	LintMode bool `json:",omitempty"`
	// Warnings are things that did not stop discovery: a document that is
	// not YAML, an image field that is not a reference.
	Warnings []string `json:",omitempty"`

	annotated []annotated
}

// RenderedObject is one object of a chart's rendered manifests.
type RenderedObject struct {
	Template   string
	Kind, Name string
	Hook       string
	Object     map[string]any
}

// Render renders c with Helm's engine (loader, dependency processing with
// conditions, tags, aliases and import-values, values coalescing, schema
// validation, engine) and returns its objects, hooks included, in template
// order. It never contacts a cluster: lookup returns nothing and DNS
// functions are off. If rendering fails because a required value is
// missing, it renders again in lint mode and says so in the warnings.
func Render(ctx context.Context, c *Chart, opts RenderOptions) ([]RenderedObject, *Discovery, error) {
	limits := opts.Limits.withDefaults()
	ch, err := loadArchive(c.Archive, c.Source)
	if err != nil {
		return nil, nil, err
	}
	d := &Discovery{Chart: c.Name, Version: c.Version}
	vals := map[string]any{}
	for _, v := range opts.Values {
		vals = loader.MergeMaps(vals, v)
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return nil, nil, fmt.Errorf("%w: chart %s %s: dependencies: %v", ErrRender, c.Name, c.Version, err)
	}
	caps, err := capabilities(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("chart %s %s: %w", c.Name, c.Version, err)
	}
	rel := common.ReleaseOptions{Name: opts.ReleaseName, Namespace: opts.Namespace, Revision: 1, IsInstall: true}
	if rel.Name == "" {
		rel.Name = DefaultReleaseName
	}
	if rel.Namespace == "" {
		rel.Namespace = DefaultNamespace
	}
	top, err := commonutil.ToRenderValues(ch, vals, rel, caps)
	if err != nil {
		// helm install refuses values its schema rejects; for discovery
		// the images of the defaults are still worth knowing.
		d.Warnings = append(d.Warnings, fmt.Sprintf("values do not validate against the chart's schema, rendered without validation: %v", err))
		if top, err = commonutil.ToRenderValuesWithSchemaValidation(ch, vals, rel, caps, true); err != nil {
			return nil, nil, fmt.Errorf("%w: chart %s %s: values: %v", ErrRender, c.Name, c.Version, err)
		}
	}
	out, err := renderTimeout(ctx, engine.Engine{CustomTemplateFuncs: deterministicFuncs()}, ch, top, limits.RenderTimeout)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		lint, lerr := renderTimeout(ctx, engine.Engine{LintMode: true, CustomTemplateFuncs: deterministicFuncs()}, ch, top, limits.RenderTimeout)
		if lerr == nil {
			d.LintMode = true
			d.Warnings = append(d.Warnings, fmt.Sprintf("rendered in lint mode (required values treated as empty): %v", err))
			out, err = lint, nil
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: chart %s %s: %v (give the values it needs in valuesFiles or values)", ErrRender, c.Name, c.Version, err)
	}
	var size int64
	names := make([]string, 0, len(out))
	for name, s := range out {
		size += int64(len(s))
		names = append(names, name)
	}
	if size > limits.MaxRenderedBytes {
		return nil, nil, fmt.Errorf("%w: chart %s %s renders %d bytes, over the limit of %d", ErrTooLarge, c.Name, c.Version, size, limits.MaxRenderedBytes)
	}
	sort.Strings(names)
	var objs []RenderedObject
	for _, name := range names {
		if strings.HasSuffix(name, ".txt") || strings.TrimSpace(out[name]) == "" {
			continue // NOTES.txt is not a manifest
		}
		docs, warns := splitObjects(name, out[name])
		d.Warnings = append(d.Warnings, warns...)
		objs = append(objs, docs...)
	}
	discoverAnnotations(ch, top, vals, d)
	return objs, d, nil
}

// deterministicFuncs replaces the template functions whose output changes
// from run to run (random strings, UUIDs, the clock) with seeded and fixed
// ones, so that rendering a chart twice gives the same objects and the
// same report. No image reference comes from them.
func deterministicFuncs() template.FuncMap {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(n int, alphabet string) string {
		b := make([]byte, max(n, 0))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	const (
		lower  = "abcdefghijklmnopqrstuvwxyz"
		upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		digits = "0123456789"
	)
	return template.FuncMap{
		"randAlphaNum": func(n int) string { return pick(n, lower+upper+digits) },
		"randAlpha":    func(n int) string { return pick(n, lower+upper) },
		"randNumeric":  func(n int) string { return pick(n, digits) },
		"randAscii": func(n int) string {
			var a strings.Builder
			for c := byte(32); c < 127; c++ {
				a.WriteByte(c)
			}
			return pick(n, a.String())
		},
		"uuidv4": func() string {
			h := pick(32, "0123456789abcdef")
			return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
		},
		"now": func() time.Time { return PackageEpoch },
	}
}

// capabilities builds .Capabilities explicitly: Kubernetes version from
// the options (never Helm's test-time default) and the built-in API set
// plus the extra API versions.
func capabilities(opts RenderOptions) (*common.Capabilities, error) {
	v := opts.KubeVersion
	if v == "" {
		v = DefaultKubeVersion
	}
	kv, err := common.ParseKubeVersion(v)
	if err != nil {
		return nil, fmt.Errorf("%w: Kubernetes version %q: %v", ErrInvalid, v, err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	caps.APIVersions = append(slices.Clone(common.DefaultVersionSet), opts.APIVersions...)
	return caps, nil
}

// renderTimeout renders in a goroutine and gives up after timeout. Go
// templates cannot be interrupted: a render that times out goes on in the
// background until it ends.
func renderTimeout(ctx context.Context, e engine.Engine, ch *chartv2.Chart, vals common.Values, timeout time.Duration) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		out map[string]string
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("template engine panic: %v", r)}
			}
		}()
		out, err := e.RenderWithContext(ctx, ch, vals)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("render did not finish within %s: %w", timeout, ctx.Err())
	}
}
