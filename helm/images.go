package helm

import (
	"context"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/client-go/util/jsonpath"

	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/enclave-mirror/enclave/imageset"
)

// Image is one image a chart uses, with every place it was found.
type Image struct {
	// Ref is the normalised reference (imageset.ParseReference: Docker
	// Hub names get docker.io and library/; a reference with neither tag
	// nor digest gets the tag "latest", as Kubernetes pulls it).
	Ref   imageset.Reference
	Found []Where
}

// Annotation keys read for declared images.
const (
	// AnnotationHelmImages is HIP-0015's list of {name, image,
	// condition, dependency}.
	AnnotationHelmImages = "helm.sh/images"
	// AnnotationArtifactHubImages is Artifact Hub's list of {name, image}.
	AnnotationArtifactHubImages = "artifacthub.io/images"
	// AnnotationBitnamiImages is Bitnami's list of {name, image}.
	AnnotationBitnamiImages = "images"
)

// FindImages renders c (see [Render]) and returns the images it uses:
// every "image" field of every rendered object, hooks included
// (FoundImageField); registry-qualified references with a tag or digest in
// other strings (FoundInferred); what opts.ImagePaths select
// (FoundImagePath); and the chart's and its enabled subcharts' image
// annotations (FoundAnnotation). Values that do not parse as references
// are reported in the warnings, not as errors.
func FindImages(ctx context.Context, c *Chart, opts RenderOptions) (*Discovery, error) {
	paths := make([]*jsonpath.JSONPath, len(opts.ImagePaths))
	for i, p := range opts.ImagePaths {
		jp := jsonpath.New(strconv.Itoa(i)).AllowMissingKeys(true)
		if err := jp.Parse(p); err != nil {
			return nil, fmt.Errorf("%w: chart %s %s: imagePaths[%d] %q: %v", ErrInvalid, c.Name, c.Version, i, p, err)
		}
		paths[i] = jp
	}
	objs, d, err := Render(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	f := finder{images: map[string]*Image{}, d: d}
	for _, a := range d.annotated {
		f.add(a.raw, a.where, true)
	}
	d.annotated = nil
	for _, o := range objs {
		base := Where{Template: o.Template, Kind: o.Kind, Name: o.Name, Hook: o.Hook}
		f.walk(o.Object, "", "", base)
		for i, jp := range paths {
			results, err := jp.FindResults(o.Object)
			if err != nil {
				d.Warnings = append(d.Warnings, fmt.Sprintf("%s %s/%s: imagePaths %q: %v", o.Template, o.Kind, o.Name, opts.ImagePaths[i], err))
				continue
			}
			for _, rs := range results {
				for _, r := range rs {
					if r.Kind() == reflect.Interface {
						r = r.Elem()
					}
					if r.Kind() == reflect.String && strings.TrimSpace(r.String()) != "" {
						w := base
						w.Method, w.Path = FoundImagePath, opts.ImagePaths[i]
						f.add(r.String(), w, true)
					}
				}
			}
		}
	}
	keys := make([]string, 0, len(f.images))
	for k := range f.images {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		img := f.images[k]
		onlyTests := !slices.ContainsFunc(img.Found, func(w Where) bool { return !isTestHook(w.Hook) })
		if onlyTests && !opts.IncludeTests {
			d.TestImages = append(d.TestImages, *img)
		} else {
			d.Images = append(d.Images, *img)
		}
	}
	return d, nil
}

type finder struct {
	images map[string]*Image
	d      *Discovery
}

// add records raw found at w; strict sources warn about values that are
// not references, inferred ones are dropped silently.
func (f *finder) add(raw string, w Where, strict bool) {
	raw = strings.TrimSpace(raw)
	ref, err := imageset.ParseReference(raw)
	if err != nil {
		if strict {
			f.d.Warnings = append(f.d.Warnings, fmt.Sprintf("%s: %s: %q is not an image reference: %v", location(w), w.Path, raw, err))
		}
		return
	}
	if !ref.HasVersion() {
		ref.Tag = "latest"
	}
	k := ref.String()
	img := f.images[k]
	if img == nil {
		img = &Image{Ref: ref}
		f.images[k] = img
	}
	if !slices.Contains(img.Found, w) {
		img.Found = append(img.Found, w)
	}
}

func location(w Where) string {
	if w.Kind == "" {
		return w.Template
	}
	return fmt.Sprintf("%s %s/%s", w.Template, w.Kind, w.Name)
}

// walk visits every value of an object. key is the field v is the value
// of ("" for list items and the root).
func (f *finder) walk(v any, p, key string, base Where) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cp := k
			if p != "" {
				cp = p + "." + k
			}
			if p == "" && (k == "apiVersion" || k == "kind") {
				continue
			}
			if k == "image" {
				f.image(v[k], cp, base)
				continue
			}
			f.walk(v[k], cp, k, base)
		}
	case []any:
		for i, e := range v {
			f.walk(e, p+"["+strconv.Itoa(i)+"]", key, base)
		}
	case string:
		f.infer(v, p, base)
	}
}

// image handles the value of an "image" field: a reference, an image
// volume source {reference: ...}, or {registry, repository, tag, digest}.
func (f *finder) image(v any, p string, base Where) {
	w := base
	w.Method, w.Path = FoundImageField, p
	switch v := v.(type) {
	case string:
		if strings.TrimSpace(v) != "" {
			f.add(v, w, true)
		}
	case map[string]any:
		if r, ok := v["reference"].(string); ok && r != "" {
			w.Path = p + ".reference"
			f.add(r, w, true)
			return
		}
		repo, ok := v["repository"].(string)
		if !ok || repo == "" {
			f.walk(v, p, "image", base)
			return
		}
		s := repo
		if reg, ok := v["registry"].(string); ok && reg != "" {
			s = strings.TrimSuffix(reg, "/") + "/" + repo
		}
		if tag := scalar(v["tag"]); tag != "" {
			s += ":" + tag
		}
		if dg, ok := v["digest"].(string); ok && dg != "" {
			s += "@" + dg
		}
		f.add(s, w, true)
	default:
		f.walk(v, p, "image", base)
	}
}

func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int, int64, float64:
		return fmt.Sprint(v)
	}
	return ""
}

// tokenSep splits strings into candidate references.
var tokenSep = regexp.MustCompile("[\\s=,\"'`;()\\[\\]{}]+")

// infer scans a string for registry-qualified references with a tag or
// digest.
func (f *finder) infer(s, p string, base Where) {
	if !strings.Contains(s, "/") || !strings.ContainsAny(s, ":@") {
		return
	}
	for _, tok := range tokenSep.Split(s, -1) {
		if !looksQualified(tok) {
			continue
		}
		ref, err := imageset.ParseReference(tok)
		if err != nil || !ref.HasVersion() {
			continue
		}
		w := base
		w.Method, w.Path = FoundInferred, p
		f.add(tok, w, false)
	}
}

// looksQualified reports whether tok starts with a registry host (a
// component with "." or ":", or localhost) followed by a path, and has
// no URL scheme.
func looksQualified(tok string) bool {
	if strings.Contains(tok, "://") {
		return false
	}
	host, rest, ok := strings.Cut(tok, "/")
	if !ok || rest == "" || !(strings.Contains(host, ".") || strings.HasPrefix(host, "localhost")) {
		return false
	}
	// a tag or digest after the last path component
	last := rest[strings.LastIndexByte(rest, '/')+1:]
	return strings.ContainsAny(last, ":@")
}

func isTestHook(hook string) bool {
	for _, h := range strings.Split(hook, ",") {
		switch strings.TrimSpace(h) {
		case "test", "test-success", "test-failure":
			return true
		}
	}
	return false
}

// docSep is the document separator helm splits manifests on.
var docSep = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitObjects parses the documents of one rendered template.
func splitObjects(template, s string) ([]RenderedObject, []string) {
	var objs []RenderedObject
	var warns []string
	for i, doc := range docSep.Split(s, -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			warns = append(warns, fmt.Sprintf("%s: document %d is not YAML, skipped: %v", template, i, err))
			continue
		}
		if obj == nil {
			continue
		}
		o := RenderedObject{Template: template, Object: normalize(obj).(map[string]any)}
		o.Kind, _ = obj["kind"].(string)
		if md, ok := o.Object["metadata"].(map[string]any); ok {
			o.Name, _ = md["name"].(string)
			if ann, ok := md["annotations"].(map[string]any); ok {
				o.Hook, _ = ann["helm.sh/hook"].(string)
			}
		}
		objs = append(objs, o)
	}
	return objs, warns
}

// normalize turns map[any]any (non-string YAML keys) into
// map[string]any, as JSON would, so JSONPath and the walk see one shape.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = normalize(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = normalize(e)
		}
		return v
	}
	return v
}

// annotated is an image declared in a chart annotation.
type annotated struct {
	raw   string
	where Where
}

// discoverAnnotations reads the image annotations of the chart and of
// its enabled dependencies (after ProcessDependencies, disabled ones are
// gone and aliased ones carry their alias as name).
//
// helm.sh/images (HIP-0015) entries are taken unless their condition is
// false in the chart's values or their dependency is not enabled.
// artifacthub.io/images and Bitnami's images list the images of the
// chart's default values, so they are taken only for charts rendered with
// their defaults: no values given from outside (by the user for the top
// chart, by a parent's values or the user for a subchart; global values
// aside). Otherwise they would name images the values replaced; a warning
// says so.
func discoverAnnotations(ch *chartv2.Chart, top common.Values, user map[string]any, d *Discovery) {
	vals, _ := top["Values"].(common.Values)
	if vals == nil {
		if m, ok := top["Values"].(map[string]any); ok {
			vals = m
		}
	}
	var visit func(c *chartv2.Chart, dir string, vals common.Values, external map[string]any)
	visit = func(c *chartv2.Chart, dir string, vals common.Values, external map[string]any) {
		enabled := map[string]bool{}
		for _, dep := range c.Dependencies() {
			enabled[dep.Name()] = true
		}
		defaults := true
		for k := range external {
			if k != "global" {
				defaults = false
			}
		}
		for _, key := range []string{AnnotationHelmImages, AnnotationArtifactHubImages, AnnotationBitnamiImages} {
			text, ok := c.Metadata.Annotations[key]
			if !ok {
				continue
			}
			var entries []map[string]any
			if err := yaml.Unmarshal([]byte(text), &entries); err != nil {
				d.Warnings = append(d.Warnings, fmt.Sprintf("%s/Chart.yaml: annotation %s is not a list of images: %v", dir, key, err))
				continue
			}
			if key != AnnotationHelmImages && !defaults {
				d.Warnings = append(d.Warnings, fmt.Sprintf("%s/Chart.yaml: annotation %s not used: it lists the images of the chart's default values, and values are given for it", dir, key))
				continue
			}
			for i, e := range entries {
				img, _ := e["image"].(string)
				if img == "" {
					continue
				}
				if dep, _ := e["dependency"].(string); dep != "" && !enabled[dep] {
					continue
				}
				if cond, _ := e["condition"].(string); cond != "" && vals != nil {
					if v, err := vals.PathValue(cond); err == nil && v == false {
						continue
					}
				}
				d.annotated = append(d.annotated, annotated{img, Where{Method: FoundAnnotation, Template: dir + "/Chart.yaml", Path: fmt.Sprintf("%s[%d]", key, i)}})
			}
		}
		for _, dep := range c.Dependencies() {
			var sub common.Values
			if vals != nil {
				if m, ok := vals[dep.Name()].(map[string]any); ok {
					sub = m
				}
			}
			given, _ := c.Values[dep.Name()].(map[string]any)
			from, _ := external[dep.Name()].(map[string]any)
			visit(dep, path.Join(dir, "charts", dep.Name()), sub, loader.MergeMaps(given, from))
		}
	}
	visit(ch, ch.Name(), vals, user)
}
