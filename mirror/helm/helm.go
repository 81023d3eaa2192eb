// Package helm plans mirror.helm: Helm charts and the images they deploy.
//
// Pack resolves every chart once (package helm at the module root: version
// selection, archives, provenance, rendering with Helm's engine) and plans
// each chart as an OCI artifact root, byte for byte as helm push writes it
// (an oci:// chart keeps its own manifest), and each image found in a chart
// as an ordinary image. The archive carries the record [AttachCharts]:
// chart -> version -> digests -> images (with where each was found), so
// that unpack needs neither the charts' sources nor a render, and a
// version range or a missing version is never resolved again.
//
// Unpack pushes each selected chart to <dest>/<host>/<path>/<name>:<tag>
// and each of its images to <dest>/<host>/<path>:<tag> (see package helm
// for the rule: the source host is kept, so two registries never collide),
// then writes an ImageDigestMirrorSet and ImageTagMirrorSet for the images.
// helm pull oci://<dest>/<host>/<path>/<name> --version X then works
// against the mirror. With -c, charts are selected by repository, name and
// version (a range selects the recorded versions it admits), local charts by
// name.
//
// Mirror to mirror (a registry destination), the pack places charts and
// images as unpack does, and the kind delivers the ImageDigestMirrorSet
// and ImageTagMirrorSet an unpack of the same record writes.
package helm

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"

	charts "github.com/enclave-mirror/enclave/helm"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// Mapping kinds of this section.
const (
	KindChart imageset.MappingKind = "helmChart"
	KindImage imageset.MappingKind = "helmImage"
)

// Options configure mirror.helm. The zero value reads helm's
// repositories.yaml from its default place (if present) for HTTP
// repository credentials and renders for [charts.DefaultKubeVersion].
type Options struct {
	// RepositoriesFile is helm's repositories.yaml (credentials and TLS
	// of HTTP repositories, matched by URL); "" means
	// charts.DefaultRepositoriesFile(), which may be absent.
	RepositoriesFile string
	// Keyring is an OpenPGP public keyring file (binary or armored): when
	// set, every chart must carry a provenance file signed by one of its
	// keys.
	Keyring string
	// KubeVersion and APIVersions are the Kubernetes capabilities charts
	// are rendered for.
	KubeVersion string
	APIVersions []string
	// IncludeTests carries the images only helm test hooks use.
	IncludeTests bool
	// HTTP are base settings of HTTP chart repositories.
	HTTP charts.HTTPOptions
	// Limits bound what chart sources control.
	Limits charts.Limits
	// RepositoryDir, when set, makes unpack also write the charts it
	// pushes as a classic chart repository directory (index.yaml with
	// relative URLs, each .tgz and .prov byte for byte; see
	// charts.WriteRepository), for clusters and tools that need an HTTP
	// chart repository (OpenShift's HelmChartRepository, helm repo add).
	RepositoryDir string
}

// Kind is mirror.helm as a [section.Kind].
type Kind struct {
	opts Options
}

// New returns mirror.helm configured by opts.
func New(opts Options) *Kind { return &Kind{opts: opts} }

var _ section.Kind = (*Kind)(nil)

// Section returns imageset.SectionHelm.
func (*Kind) Section() imageset.Section { return imageset.SectionHelm }

func (k *Kind) planOptions(env *section.PackEnv) (charts.PlanOptions, error) {
	po := charts.PlanOptions{
		Client: env.Source, HTTP: k.opts.HTTP, KubeVersion: k.opts.KubeVersion, APIVersions: k.opts.APIVersions,
		IncludeTests: k.opts.IncludeTests, Limits: k.opts.Limits, Concurrency: env.Parallel,
	}
	if env.Config.File != "" {
		po.ConfigDir = filepath.Dir(env.Config.File)
	}
	path, explicit := k.opts.RepositoriesFile, k.opts.RepositoriesFile != ""
	if !explicit {
		path = charts.DefaultRepositoriesFile()
	}
	rf, err := charts.LoadRepositoriesFile(path, explicit)
	if err != nil {
		return po, fmt.Errorf("%w: %v", section.ErrUsage, err)
	}
	po.Repositories = rf
	if k.opts.Keyring != "" {
		data, err := os.ReadFile(k.opts.Keyring)
		if err != nil {
			return po, fmt.Errorf("%w: helm keyring: %v", section.ErrUsage, err)
		}
		var el openpgp.EntityList
		if el, err = charts.ReadKeyring(data); err != nil {
			return po, fmt.Errorf("%w: helm keyring %s: %v", section.ErrUsage, k.opts.Keyring, err)
		}
		po.Keyring = el
	}
	return po, nil
}
