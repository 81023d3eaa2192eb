package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/enclave-mirror/enclave/mirror/platform"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/release"
)

// Flags of mirror.platform (OpenShift releases).
var (
	updateURLFlag = &ucli.StringFlag{Name: "update-url",
		Usage: "update graph API (Cincinnati) to select releases from (default: " + release.EnvUpdateURL + ", then the public OpenShift or OKD endpoint); inside an air gap, your OpenShift Update Service"}
	releaseDataFlag = &ucli.StringFlag{Name: "release-data",
		Usage: "file://DIR: an archive the previous stage delivered; release signatures and graph data come only from it, never from the internet (and update graphs too, unless --update-url or " + release.EnvUpdateURL + " names an update service)"}
	releaseKeyFlag = &ucli.StringFlag{Name: "release-key",
		Usage: "armored OpenPGP public key that release signatures must verify against (default: " + release.EnvSignatureKey + ", then Red Hat's release keys, built in); signatures are fetched from " + release.EnvSignatureURL + ", else mirror.openshift.com, unless --release-data"}
	skipReleaseSignaturesFlag = &ucli.BoolFlag{Name: "skip-release-signatures",
		Usage: "carry releases without their signatures (no signature ConfigMap at unpack; clusters cannot verify the payloads without another source)"}
	graphDataURLFlag = &ucli.StringFlag{Name: "graph-data-url", Value: release.GraphDataURL,
		Usage: "graph-data tarball for the OpenShift Update Service (mirror.platform.graph: true)"}
)

// platformOptions reads the mirror.platform flags.
func platformOptions(c *ucli.Context) platform.Options {
	return platform.Options{
		UpdateURL:      c.String(updateURLFlag.Name),
		GraphDataURL:   c.String(graphDataURLFlag.Name),
		ReleaseKey:     c.String(releaseKeyFlag.Name),
		SkipSignatures: c.Bool(skipReleaseSignaturesFlag.Name),
		ReleaseData:    strings.TrimPrefix(c.String(releaseDataFlag.Name), "file://"),
		HTTPClient: ocistore.NewHTTPClient(ocistore.Timeouts{Connect: c.Duration(ConnectTimeoutFlag.Name),
			Response: c.Duration(ResponseTimeoutFlag.Name), Stall: c.Duration(StallTimeoutFlag.Name)}),
	}
}

// listCommand is `enclave-pack list releases` and `enclave-pack list
// operators`.
func listCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "list",
		Usage: "list what a configuration could select",
		Subcommands: []*ucli.Command{{
			Name:      "releases",
			Usage:     "print a channel's release versions, oldest first, the head marked",
			UsageText: "enclave-pack list releases --channel stable-4.15 [--arch amd64] [--type ocp] [--update-url URL]",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "channel", Required: true, Usage: "update channel, e.g. stable-4.15"},
				&ucli.StringFlag{Name: "arch", Value: "amd64", Usage: "amd64, arm64, ppc64le, s390x or multi"},
				&ucli.StringFlag{Name: "type", Value: "ocp", Usage: "ocp or okd"},
				updateURLFlag, releaseDataFlag,
			},
			Action: listReleasesAction,
		}, listOperatorsCommand()},
	}
}

func listReleasesAction(c *ucli.Context) error {
	if c.NArg() != 0 {
		return Usagef("list releases takes no arguments (got %q)", c.Args().First())
	}
	vs, head, err := platform.ListReleases(c.Context, platformOptions(c), c.String("channel"), c.String("type"), c.String("arch"))
	if err != nil {
		return err
	}
	out := c.App.Writer
	for i, v := range vs {
		if i == head {
			fmt.Fprintf(out, "%s (head)\n", v)
			continue
		}
		fmt.Fprintln(out, v)
	}
	if len(vs) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "channel %s (%s) has no releases\n", c.String("channel"), c.String("arch"))
	}
	return nil
}
