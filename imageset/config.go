package imageset

import "regexp"

// Accepted kind and apiVersion values.
const (
	// Kind is the only kind [Load] accepts.
	Kind = "ImageSetConfiguration"
	// APIVersionV2Alpha1 is the apiVersion of oc-mirror v2 configurations.
	APIVersionV2Alpha1 = "mirror.openshift.io/v2alpha1"
	// APIVersionV1Alpha2 is the apiVersion of older (oc-mirror v1) configurations.
	APIVersionV1Alpha2 = "mirror.openshift.io/v1alpha2"
)

// Limits on configuration input.
const (
	// MaxConfigSize bounds the bytes [Load] reads: real configurations are a
	// few KiB, and the YAML parser's memory grows with its input.
	MaxConfigSize = 4 << 20
	// MaxArchiveSizeGiB bounds archiveSize (1 PiB) so that
	// [Config.ArchiveSizeBytes] cannot overflow.
	MaxArchiveSizeGiB = 1 << 20
	// maxErrors bounds how many problems Load reports at once.
	maxErrors = 50
)

// Config is a loaded and validated ImageSetConfiguration. Throughout the
// schema types, a Line field holds the 1-based line of the entry in the file
// (0 for values built in code).
type Config struct {
	// File is the name Load was given, used in messages.
	File string
	// APIVersion is APIVersionV2Alpha1 or APIVersionV1Alpha2.
	APIVersion string
	// ArchiveSizeGiB is the top-level archiveSize: the maximum size of one
	// archive file in GiB (2^30 bytes), as oc-mirror reads it. Zero means
	// unset: the packer's default applies. See [Config.ArchiveSizeBytes].
	ArchiveSizeGiB int64
	// Mirror is what to mirror.
	Mirror Mirror
	// Warnings are what Load accepted but wants the user to know: fields
	// spelled with other case, fields enclave accepts and ignores, fields it
	// reads but does not act on yet. Each is one line "imageset: file:line:
	// message"; callers print them before they start.
	Warnings []string
}

// ArchiveSizeBytes returns archiveSize in bytes (GiB * 2^30), 0 if unset.
func (c *Config) ArchiveSizeBytes() int64 { return c.ArchiveSizeGiB << 30 }

// Mirror is the mirror: section. Nil pointers and empty slices mean the
// section is absent.
type Mirror struct {
	Platform         *Platform
	Operators        []Operator
	AdditionalImages []AdditionalImage
	Helm             *Helm
	BlockedImages    []BlockedImage
}

// Platform is mirror.platform: OpenShift or OKD releases.
type Platform struct {
	// Channels select releases from update channels.
	Channels []ReleaseChannel
	// Architectures defaults to ["amd64"]; values are amd64, arm64, ppc64le,
	// s390x and multi.
	Architectures []string
	// Graph asks for the update-graph data (for an OpenShift Update Service).
	Graph bool
	// Release is one release payload by reference (without a docker://
	// prefix the file may have written).
	Release string
	// Platforms is the platforms: filter oc-mirror applies to releases:
	// they are selected from the multi-architecture graph, and every
	// image of theirs is a sparse copy of these platforms.
	Platforms []PlatformFilter
	// KubeVirtContainer asks for the KubeVirt RHCOS container image of each
	// release, named in the payload's boot-image metadata; it is carried as
	// a release component (kube-virt-container), as oc-mirror does.
	KubeVirtContainer bool
	// Line is the line of the platform: key (0 if built in code).
	Line int
}

// Channel types.
const (
	ChannelTypeOCP = "ocp"
	ChannelTypeOKD = "okd"
)

// ReleaseChannel is one entry of mirror.platform.channels. With neither
// MinVersion nor MaxVersion only the channel head is selected; with both,
// every release in the range; with only MinVersion, MinVersion to the head.
type ReleaseChannel struct {
	Name string
	// Type is ChannelTypeOCP (the default) or ChannelTypeOKD.
	Type                   string
	MinVersion, MaxVersion *Version
	// ShortestPath selects only releases on the upgrade path from min to max.
	ShortestPath bool
	// Full selects every release in the channel (within min/max if set).
	Full bool
	Line int
}

// Architectures accepted in mirror.platform.architectures.
var Architectures = []string{"amd64", "arm64", "ppc64le", "s390x", "multi"}

// Operator is one entry of mirror.operators: an operator catalog.
type Operator struct {
	// Catalog is an image reference or an "oci://" path to a catalog on disk
	// (without a docker:// prefix the file may have written).
	Catalog string
	// TargetCatalog is an optional repository path for the mirrored catalog.
	TargetCatalog string
	// TargetTag is an optional tag for the mirrored catalog.
	TargetTag string
	// TargetCatalogSourceTemplate is an optional path to a YAML file
	// holding a CatalogSource whose fields (displayName, publisher,
	// updateStrategy, grpcPodConfig, ...) the generated CatalogSource
	// keeps; its name, namespace, sourceType and image are replaced.
	TargetCatalogSourceTemplate string
	// Full selects every bundle rather than channel heads.
	Full bool
	// SkipDependencies leaves out packages the selected ones depend on.
	SkipDependencies bool
	// Packages limits the catalog to these packages; empty means all.
	Packages []OperatorPackage
	// Platforms is the platforms: filter for the catalog's bundle and
	// related images (sparse copies); the catalog image stays whole.
	Platforms []PlatformFilter
	Line      int
}

// OperatorPackage is one entry of mirror.operators[].packages.
type OperatorPackage struct {
	Name                   string
	DefaultChannel         string
	MinVersion, MaxVersion *Version
	Channels               []OperatorChannel
	Line                   int
}

// OperatorChannel is one entry of mirror.operators[].packages[].channels.
type OperatorChannel struct {
	Name                   string
	MinVersion, MaxVersion *Version
	Line                   int
}

// LayoutRegistry is the registry name given to images read from an OCI
// image layout (oci:// sources). It names no registry: archives record such
// images under it, unpack places them at TargetRepo, and no mirror set is
// written for them.
const LayoutRegistry = "oci-layout.local"

// AdditionalImage is one entry of mirror.additionalImages.
type AdditionalImage struct {
	// Name is the parsed source reference; it has a tag, a digest or both.
	Name Reference
	// Raw is Name as written in the file.
	Raw string
	// TargetRepo, if set, replaces the repository path at the destination.
	TargetRepo string
	// TargetTag, if set, replaces the tag at the destination.
	TargetTag string
	// Platforms, if set, limits a multi-platform image to these platforms'
	// children (a sparse copy, into a registry or an archive).
	Platforms []PlatformFilter
	// Layout is set for an "oci://DIR:tag" (or "@digest") source: the OCI
	// image layout directory to read. Name is then a synthetic reference
	// under LayoutRegistry naming the destination repository (TargetRepo,
	// which such entries require) with the layout's tag or digest.
	Layout string
	Line   int
}

// Helm is mirror.helm.
type Helm struct {
	Repositories []HelmRepository
	Local        []HelmLocal
	// Line is the line of the helm: key (0 if built in code).
	Line int
}

// HelmRepository is one entry of mirror.helm.repositories.
type HelmRepository struct {
	Name string
	// URL is the chart repository (http, https or oci scheme).
	URL    string
	Charts []HelmChart
	Line   int
}

// HelmChart is one chart of a helm repository. An empty Version means the
// latest stable version; a semver range (">=1.2 <2") is resolved, once, to
// the highest version it admits.
type HelmChart struct {
	Name, Version string
	HelmChartOptions
	Line int
}

// HelmLocal is one entry of mirror.helm.local: a chart on disk, a packaged
// .tgz or a chart directory.
type HelmLocal struct {
	Name, Path string
	HelmChartOptions
	Line int
}

// HelmChartOptions are the per-chart fields shared by repository and local
// charts. ImagePaths and Platforms are oc-mirror v2's; ValuesFiles and
// Values are the names of oc-mirror's values proposal (RFE-8713).
type HelmChartOptions struct {
	// ImagePaths are extra Kubernetes JSONPath templates
	// ("{.spec.template.spec.containers[*].env[*].value}") evaluated on
	// every rendered object; what they select is taken as image references.
	ImagePaths []string `json:",omitempty"`
	// Platforms is the platforms: filter oc-mirror accepts on a chart
	// ({os, architecture} entries): it limits the chart's multi-platform
	// images as additionalImages[].platforms does (see Mapping.Platforms).
	Platforms []PlatformFilter `json:",omitempty"`
	// ValuesFiles are values files merged over the chart's defaults in
	// order, as helm -f does. Relative paths are relative to the directory
	// of the configuration file; callers resolve them.
	ValuesFiles []string `json:",omitempty"`
	// Values are inline values merged last, over ValuesFiles.
	Values map[string]any `json:",omitempty"`
}

// BlockedImage is one entry of mirror.blockedImages: images whose full
// canonical source reference (see [Reference.String]) matches Pattern are
// left out. The regular expression is Go syntax (RE2) and unanchored: use ^
// and $ to match the whole reference.
type BlockedImage struct {
	Pattern *regexp.Regexp
	Line    int
}
