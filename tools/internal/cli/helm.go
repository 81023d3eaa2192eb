package cli

import (
	ucli "github.com/urfave/cli/v2"

	charts "github.com/enclave-mirror/enclave/helm"
	"github.com/enclave-mirror/enclave/mirror/helm"
)

// Flags of mirror.helm.
var (
	helmRepositoriesFlag = &ucli.StringFlag{Name: "helm-repositories",
		Usage: "helm's repositories.yaml to take HTTP chart repositories' credentials and TLS settings from, matched by URL (default: helm's own, when present)"}
	helmKeyringFlag = &ucli.StringFlag{Name: "helm-keyring",
		Usage: "OpenPGP public keyring: every chart must then carry a provenance file signed by one of its keys (as helm --verify)"}
	helmKubeVersionFlag = &ucli.StringFlag{Name: "helm-kube-version",
		Usage: "Kubernetes version charts are rendered for when finding their images (default " + charts.DefaultKubeVersion + ")"}
	helmAPIVersionsFlag = &ucli.StringSliceFlag{Name: "helm-api-versions",
		Usage: "extra API versions charts may test for (.Capabilities.APIVersions), e.g. monitoring.coreos.com/v1 (repeatable)"}
	helmIncludeTestsFlag = &ucli.BoolFlag{Name: "helm-include-tests",
		Usage: "also carry the images only `helm test` hooks use"}
	helmRepositoryDirFlag = &ucli.StringFlag{Name: "helm-repository-dir",
		Usage: "also write the charts pushed as a classic chart repository directory (index.yaml with relative URLs, .tgz and .prov) for a web server"}
)

// helmPackOptions reads the mirror.helm flags of enclave-pack.
func helmPackOptions(c *ucli.Context) helm.Options {
	return helm.Options{
		RepositoriesFile: c.String(helmRepositoriesFlag.Name),
		Keyring:          c.String(helmKeyringFlag.Name),
		KubeVersion:      c.String(helmKubeVersionFlag.Name),
		APIVersions:      c.StringSlice(helmAPIVersionsFlag.Name),
		IncludeTests:     c.Bool(helmIncludeTestsFlag.Name),
	}
}

// helmUnpackOptions reads the mirror.helm flags of enclave-unpack.
func helmUnpackOptions(c *ucli.Context) helm.Options {
	return helm.Options{RepositoryDir: c.String(helmRepositoryDirFlag.Name)}
}
