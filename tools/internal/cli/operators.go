package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	ucli "github.com/urfave/cli/v2"

	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/ocistore"
)

// listOperatorsCommand is `enclave-pack list operators`.
func listOperatorsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "operators",
		Usage:     "print a catalog's packages: default channel, and per channel its head and versions (oldest first)",
		UsageText: "enclave-pack list operators --catalog registry.redhat.io/redhat/redhat-operator-index:v4.18 [--package NAME]",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "catalog", Required: true, Usage: "catalog image, as in mirror.operators[].catalog"},
			&ucli.StringFlag{Name: "package", Usage: "only this package"},
			TLSFlag("src"), AuthFileFlag, RegistriesConfFlag,
			ConnectTimeoutFlag, ResponseTimeoutFlag, StallTimeoutFlag, RetryBudgetFlag,
		},
		Action: listOperatorsAction,
	}
}

func listOperatorsAction(c *ucli.Context) error {
	if c.NArg() != 0 {
		return Usagef("list operators takes no arguments (got %q)", c.Args().First())
	}
	name := c.String("catalog")
	if strings.HasPrefix(name, "oci://") {
		return Usagef("--catalog %s: oci:// catalogs are not supported yet", name)
	}
	ref, err := imageset.ParseReference(name)
	if err != nil {
		return err
	}
	rep := Reporter(c.App.ErrWriter, "list")
	log, err := Logger(c, rep)
	if err != nil {
		return err
	}
	client, err := ocistore.NewClient(RegistryOptions(c, "src", log, rep))
	if err != nil {
		return err
	}
	src, err := client.Source(c.Context, ref)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", name, err)
	}
	desc, err := src.Resolve(c.Context, ref.Object())
	if err != nil {
		return fmt.Errorf("resolve catalog %s: %w", name, err)
	}
	cat, err := catalog.Load(c.Context, src, desc)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", name, err)
	}
	pkgs := cat.Packages
	if p := c.String("package"); p != "" {
		pkg := cat.Package(p)
		if pkg == nil {
			return Usagef("catalog %s has no package %q (it offers %s)", name, p, strings.Join(cat.PackageNames(), ", "))
		}
		pkgs = []*catalog.Package{pkg}
	}
	out := c.App.Writer
	fmt.Fprintf(out, "catalog %s (%s)\n", name, desc.Digest)
	for _, p := range pkgs {
		printPackage(out, p)
	}
	return nil
}

// printPackage prints one package: its name and default channel, then
// each channel with its head and its versions, oldest first.
func printPackage(w io.Writer, p *catalog.Package) {
	fmt.Fprintf(w, "%s  default channel %s\n", p.Name, p.DefaultChannel)
	version := func(bundle string) string {
		if b := p.Bundle(bundle); b != nil && b.Version != "" {
			return b.Version
		}
		return bundle
	}
	for _, ch := range p.Channels {
		head, err := ch.Head()
		if err != nil {
			head = "none (" + err.Error() + ")"
		} else {
			head = head + " (" + version(head) + ")"
		}
		var vs []string
		for _, e := range ch.Entries {
			vs = append(vs, version(e.Name))
		}
		slices.SortStableFunc(vs, compareVersions)
		vs = slices.Compact(vs)
		fmt.Fprintf(w, "  %s  head %s  versions %s\n", ch.Name, head, strings.Join(vs, ", "))
	}
}

// compareVersions orders semantic versions by precedence; anything that
// does not parse sorts after them, by text.
func compareVersions(a, b string) int {
	va, ea := semver.NewVersion(a)
	vb, eb := semver.NewVersion(b)
	switch {
	case ea == nil && eb == nil:
		if c := va.Compare(vb); c != 0 {
			return c
		}
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}
