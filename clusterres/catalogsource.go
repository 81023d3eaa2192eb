package clusterres

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"
)

// Kinds and API versions of the operator catalog resources.
const (
	KindCatalogSource        = "CatalogSource"
	CatalogSourceAPIVersion  = "operators.coreos.com/v1alpha1"
	KindClusterCatalog       = "ClusterCatalog"
	ClusterCatalogAPIVersion = "olm.operatorframework.io/v1"
	// CatalogSourceNamespace is where OLM v0 looks for cluster-wide
	// catalogs.
	CatalogSourceNamespace = "openshift-marketplace"
)

// ErrInvalidTemplate: a targetCatalogSourceTemplate cannot be used.
var ErrInvalidTemplate = errors.New("clusterres: invalid CatalogSource template")

// MaxCatalogNameLength is the limit on a CatalogSource name: OLM names a
// Service after it, and a Service name is a DNS-1035 label.
const MaxCatalogNameLength = 63

var (
	dns1035Re    = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	notLabelRune = regexp.MustCompile(`[^a-z0-9-]+`)
	digestRefRe  = regexp.MustCompile(`^[^@\s]+@sha256:[a-f0-9]{64}$`)
)

// CatalogName derives the name of a catalog's CatalogSource and
// ClusterCatalog: [ArchiveName] of the archive, the last path element of
// the catalog's destination repository and the first 12 characters of its
// tag (oc-mirror's cs-<repo>-<tag> naming, with the archive id in front so
// that catalogs of two archives never overwrite each other's objects).
// Characters other than [a-z0-9-] become '-', and the repository part is
// shortened so that the name is a DNS-1035 label of at most 63 characters.
func CatalogName(archive digest.Digest, repo, tag string) (string, error) {
	if err := archive.Validate(); err != nil {
		return "", fmt.Errorf("%w: archive digest %q: %v", ErrInvalidName, archive, err)
	}
	label := func(s string) string {
		s = notLabelRune.ReplaceAllString(strings.ToLower(s), "-")
		return strings.Trim(s, "-")
	}
	base := label(path.Base(repo))
	suffix := label(tag)
	if len(suffix) > 12 {
		suffix = strings.Trim(suffix[:12], "-")
	}
	prefix := ArchiveName(archive) + "-"
	room := MaxCatalogNameLength - len(prefix)
	if suffix != "" {
		room -= len(suffix) + 1
	}
	if len(base) > room {
		base = strings.Trim(base[:room], "-")
	}
	parts := []string{}
	for _, p := range []string{base, suffix} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("%w: repository %q and tag %q give no name", ErrInvalidName, repo, tag)
	}
	name := prefix + strings.Join(parts, "-")
	if !dns1035Re.MatchString(name) {
		return "", fmt.Errorf("%w: %q is not a DNS-1035 label", ErrInvalidName, name)
	}
	return name, nil
}

func validateCatalog(name, image string) error {
	if len(name) > MaxCatalogNameLength || !dns1035Re.MatchString(name) {
		return fmt.Errorf("%w: %q is not a DNS-1035 label of at most %d characters (OLM names a Service after it)", ErrInvalidName, name, MaxCatalogNameLength)
	}
	if !digestRefRe.MatchString(image) {
		return fmt.Errorf("%w: catalog image %q: want a reference by digest (repo@sha256:...), so that the cluster runs the catalog that was mirrored", ErrInvalidMirror, image)
	}
	return nil
}

// namespacedMetadata is metadata with a namespace.
type namespacedMetadata struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels,omitempty"`
}

type catalogSource struct {
	APIVersion string             `yaml:"apiVersion"`
	Kind       string             `yaml:"kind"`
	Metadata   namespacedMetadata `yaml:"metadata"`
	Spec       struct {
		SourceType string `yaml:"sourceType"`
		Image      string `yaml:"image"`
	} `yaml:"spec"`
}

// CatalogSource returns an OLM v0 CatalogSource named name in
// openshift-marketplace serving image (a reference by digest) over grpc.
//
// template, if not empty, is the YAML of a targetCatalogSourceTemplate: a
// CatalogSource (operators.coreos.com/v1alpha1) whose sourceType is empty
// or grpc and that has no configMap. Its name, namespace, sourceType and
// image are replaced; everything else (displayName, publisher,
// updateStrategy, grpcPodConfig, annotations, ...) is kept, as oc-mirror
// does. Unlike oc-mirror, which logs a bad template and ignores it, a bad
// template is an [ErrInvalidTemplate] error.
//
// withoutCache says the image ships no usable serve cache (a filtered
// catalog: its cache is whited out): a template that forces the cache
// path through grpcPodConfig.extractContent would crash the catalog pod
// (OCPBUGS-109376), so it is refused.
func CatalogSource(name, image string, template []byte, withoutCache bool) (Resource, error) {
	if err := validateCatalog(name, image); err != nil {
		return Resource{}, err
	}
	res := Resource{Kind: KindCatalogSource, Name: name, Namespace: CatalogSourceNamespace}
	if len(bytes.TrimSpace(template)) == 0 {
		o := &catalogSource{APIVersion: CatalogSourceAPIVersion, Kind: KindCatalogSource, Metadata: namespacedMetadata{
			Name: name, Namespace: CatalogSourceNamespace, Labels: map[string]string{ManagedByLabel: "enclave"},
		}}
		o.Spec.SourceType, o.Spec.Image = "grpc", image
		res.Object = o
		return res, nil
	}
	obj, err := fromTemplate(name, image, template, withoutCache)
	if err != nil {
		return Resource{}, err
	}
	res.Object = obj
	return res, nil
}

func fromTemplate(name, image string, template []byte, withoutCache bool) (map[string]any, error) {
	var obj map[string]any
	if err := yaml.Unmarshal(template, &obj); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTemplate, err)
	}
	if obj == nil {
		return nil, fmt.Errorf("%w: not a YAML mapping", ErrInvalidTemplate)
	}
	if obj["apiVersion"] != CatalogSourceAPIVersion || obj["kind"] != KindCatalogSource {
		return nil, fmt.Errorf("%w: apiVersion %v kind %v, want %s %s", ErrInvalidTemplate, obj["apiVersion"], obj["kind"], CatalogSourceAPIVersion, KindCatalogSource)
	}
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
	}
	if st, ok := spec["sourceType"]; ok && st != "" && st != "grpc" {
		return nil, fmt.Errorf("%w: sourceType %v, want grpc", ErrInvalidTemplate, st)
	}
	if _, ok := spec["configMap"]; ok {
		return nil, fmt.Errorf("%w: spec.configMap is set; a mirrored catalog is served from its image", ErrInvalidTemplate)
	}
	if pod, _ := spec["grpcPodConfig"].(map[string]any); pod != nil && withoutCache {
		if _, ok := pod["extractContent"]; ok {
			return nil, fmt.Errorf("%w: spec.grpcPodConfig.extractContent makes the pod use the image's serve cache, and the filtered catalog has none (OCPBUGS-109376); remove extractContent from the template", ErrInvalidTemplate)
		}
	}
	spec["sourceType"], spec["image"] = "grpc", image
	obj["spec"] = spec
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
	}
	md["name"], md["namespace"] = name, CatalogSourceNamespace
	labels, _ := md["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels[ManagedByLabel] = "enclave"
	md["labels"] = labels
	obj["metadata"] = md
	return obj, nil
}

type clusterCatalog struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       struct {
		Priority int `yaml:"priority"`
		Source   struct {
			Type  string `yaml:"type"`
			Image struct {
				Ref string `yaml:"ref"`
			} `yaml:"image"`
		} `yaml:"source"`
	} `yaml:"spec"`
}

// ClusterCatalog returns an OLM v1 ClusterCatalog (cluster scoped) named
// name for image, a reference by digest; priority 0 as oc-mirror writes.
func ClusterCatalog(name, image string) (Resource, error) {
	if err := validateCatalog(name, image); err != nil {
		return Resource{}, err
	}
	o := &clusterCatalog{APIVersion: ClusterCatalogAPIVersion, Kind: KindClusterCatalog, Metadata: newMetadata(name)}
	o.Spec.Source.Type = "Image"
	o.Spec.Source.Image.Ref = image
	return Resource{Kind: KindClusterCatalog, Name: name, Object: o}, nil
}
