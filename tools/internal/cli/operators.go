package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	ucli "github.com/urfave/cli/v2"
	"oras.land/oras-go/v2"

	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/ref"
)

// listOperatorsCommand is `enclave-pack list operators`.
func listOperatorsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "operators",
		Usage:     "print a catalog's packages: default channel, and per channel its head and versions (oldest first)",
		UsageText: "enclave-pack list operators --catalog registry.redhat.io/redhat/redhat-operator-index:v4.18|oci://DIR:tag [--package NAME]",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "catalog", Required: true, Usage: "catalog image, as in mirror.operators[].catalog: a registry reference or oci://DIR:tag"},
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
	src, object, err := openListCatalog(c, name)
	if err != nil {
		return err
	}
	desc, err := src.Resolve(c.Context, object)
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
	// Names come from the image: control characters are shown escaped.
	out := progress.PrintableWriter(c.App.Writer)
	fmt.Fprintf(out, "catalog %s (%s)\n", name, desc.Digest)
	for _, p := range pkgs {
		printPackage(out, p)
	}
	return nil
}

// openListCatalog opens where catalog name is read from, the source
// registry or an OCI layout (oci://DIR:tag), and returns the tag or digest
// to resolve there.
func openListCatalog(c *ucli.Context, name string) (oras.ReadOnlyGraphTarget, string, error) {
	if strings.HasPrefix(name, "oci://") {
		loc, err := ref.ParseLocation(name)
		if err != nil {
			return nil, "", err
		}
		object := loc.Reference.Tag
		if loc.Reference.Digest != "" {
			object = loc.Reference.Digest.String()
		}
		if object == "" {
			return nil, "", Usagef("--catalog %s names no image in the layout: add :tag or @sha256:...", name)
		}
		if _, err := os.Stat(loc.Path); err != nil {
			return nil, "", fmt.Errorf("catalog %s: OCI layout: %w", name, err)
		}
		src, err := ocistore.OpenOCILayout(c.Context, loc.Path)
		if err != nil {
			return nil, "", fmt.Errorf("catalog %s: open OCI layout: %w", name, err)
		}
		return src, object, nil
	}
	r, err := imageset.ParseReference(name)
	if err != nil {
		return nil, "", err
	}
	rep := Reporter(c.App.ErrWriter, "list")
	log, err := Logger(c, rep)
	if err != nil {
		return nil, "", err
	}
	client, err := ocistore.NewClient(RegistryOptions(c, "src", log, rep))
	if err != nil {
		return nil, "", err
	}
	src, err := client.Source(c.Context, r)
	if err != nil {
		return nil, "", fmt.Errorf("catalog %s: %w", name, err)
	}
	return src, r.Object(), nil
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
