package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/mirror/kinds"
	"github.com/enclave-mirror/enclave/mirror/operators"
)

// catalogSourceFlag chooses the catalog image the CatalogSource and
// ClusterCatalog of each operator catalog point at.
var catalogSourceFlag = &ucli.StringFlag{Name: "catalog-source", Value: "filtered",
	Usage: "what the CatalogSource and ClusterCatalog of an operator catalog point at: filtered (the catalog rebuilt with only what was mirrored) or original (the catalog as published, signature intact, offering bundles that were not mirrored)"}

// originalCatalogSource reads --catalog-source.
func originalCatalogSource(c *ucli.Context) (bool, error) {
	switch v := c.String(catalogSourceFlag.Name); v {
	case "filtered":
		return false, nil
	case "original":
		return true, nil
	default:
		return false, Usagef("--catalog-source %q: want filtered or original", v)
	}
}

// clusterResourcesFlag is where unpack, and pack into a registry, write
// cluster resources.
var clusterResourcesFlag = &ucli.StringFlag{Name: "cluster-resources", Value: "cluster-resources",
	Usage: "directory for the cluster resources (ImageDigestMirrorSet, ImageTagMirrorSet, CatalogSource, ClusterCatalog, release signature ConfigMap, UpdateService); enclave-pack writes them only into a docker:// destination"}

var verifyKeyFlag = &ucli.StringSliceFlag{Name: "verify-key", Usage: "require a signature by this Ed25519 public key (PEM; repeatable)"}

// UnpackApp returns the enclave-unpack application.
func UnpackApp() *ucli.App {
	return &ucli.App{
		Name:      "enclave-unpack",
		Usage:     "push an archive into a registry; inspect or verify archives",
		UsageText: "enclave-unpack [-c isc.yaml] --from file://DIR [flags] docker://HOST[:PORT]/PREFIX\n   enclave-unpack inspect file://DIR\n   enclave-unpack verify file://DIR",
		Flags: []ucli.Flag{
			ConfigFlag,
			&ucli.StringFlag{Name: "from", Usage: "the archive: file://DIR, or an absolute path (read as file://PATH)"},
			&ucli.StringFlag{Name: "receipt", Value: mirror.DefaultReceipt, Usage: "receipt file to write (merged with an existing receipt of the same destination); carry it back to cut the next archive against"},
			clusterResourcesFlag,
			&ucli.BoolFlag{Name: "verify-first", Usage: "read and check every byte of the archive before writing anything, then read it again to push: a damaged archive writes nothing at all (by default the archive is read once, each blob checked on its way and committed only once its digest matched)"},
			&ucli.BoolFlag{Name: "skip-verify", Usage: "the default (verify while pushing, reading the archive once); kept for old scripts"},
			verifyKeyFlag,
			&ucli.BoolFlag{Name: "allow-rollback", Usage: "accept an archive older than one already applied from the same lineage"},
			ParallelFlag, BlobParallelFlag, DryRunFlag, NoReferrersFlag, RemoveSignaturesFlag,
			TLSFlag("dest"), AuthFileFlag, LogLevelFlag, LogFormatFlag,
			ConnectTimeoutFlag, ResponseTimeoutFlag, StallTimeoutFlag, RetryBudgetFlag,
			helmRepositoryDirFlag, catalogSourceFlag,
		},
		Action: unpackAction,
		Commands: []*ucli.Command{
			{Name: "inspect", Usage: "show images, volumes, prerequisites and sizes", ArgsUsage: "file://DIR", Action: inspectAction},
			{Name: "verify", Usage: "read every byte and check everything; no registry needed", ArgsUsage: "file://DIR", Flags: []ucli.Flag{verifyKeyFlag}, Action: verifyAction},
		},
	}
}

func archiveArg(c *ucli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", Usagef("give the archive: file://DIR")
	}
	loc, err := ParseLocation(c.Args().First())
	if err != nil {
		return "", err
	}
	if loc.Dir == "" {
		return "", Usagef("%s is not an archive location (file://DIR)", c.Args().First())
	}
	return loc.Dir, nil
}

func inspectAction(c *ucli.Context) error {
	dir, err := archiveArg(c)
	if err != nil {
		return err
	}
	return mirror.Inspect(progress.PrintableWriter(c.App.Writer), dir)
}

func verifyAction(c *ucli.Context) error {
	dir, err := archiveArg(c)
	if err != nil {
		return err
	}
	return mirror.Verify(c.Context, progress.PrintableWriter(c.App.Writer), dir, c.StringSlice(verifyKeyFlag.Name))
}

func unpackAction(c *ucli.Context) error {
	if c.NArg() != 1 {
		return Usagef("give one destination: docker://HOST/PREFIX (got %d arguments)", c.NArg())
	}
	dest, err := ParseLocation(c.Args().First())
	if err != nil {
		return err
	}
	if dest.Registry == "" {
		return Usagef("the destination must be docker://HOST/PREFIX")
	}
	if c.String("from") == "" {
		return Usagef("--from file://DIR is required")
	}
	from, err := ParseArchiveLocation("--from", c.String("from"))
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(c)
	if err != nil {
		return err
	}
	rep := Reporter(c.App.ErrWriter, "unpack")
	log, err := Logger(c, rep)
	if err != nil {
		return err
	}
	original, err := originalCatalogSource(c)
	if err != nil {
		return err
	}
	reads, readsDone, err := archiveReads()
	if err != nil {
		return err
	}
	res, err := mirror.Unpack(c.Context, mirror.UnpackOptions{
		Archive: from.Dir, Registry: dest.Registry, Config: cfg,
		Receipt: c.String("receipt"), ClusterResources: c.String(clusterResourcesFlag.Name),
		Parallel: c.Int(ParallelFlag.Name), BlobConcurrency: c.Int(BlobParallelFlag.Name),
		NoReferrers: c.Bool(NoReferrersFlag.Name), RemoveSignatures: c.Bool(RemoveSignaturesFlag.Name), SkipVerify: c.Bool("skip-verify"), VerifyFirst: c.Bool("verify-first"), DryRun: c.Bool(DryRunFlag.Name),
		VerifyKeys: c.StringSlice(verifyKeyFlag.Name), AllowRollback: c.Bool("allow-rollback"), ArchiveOptions: reads,
		Dest: RegistryOptions(c, "dest", log, rep), Progress: rep, Log: log,
		Kinds: kinds.All(kinds.Options{Helm: helmUnpackOptions(c), Operators: operators.Options{OriginalCatalogSource: original}}),
	})
	if rerr := readsDone(); rerr != nil && err == nil {
		err = rerr
	}
	out := c.App.Writer
	if res != nil {
		for _, line := range res.Plan {
			fmt.Fprintln(out, line)
		}
		if len(res.Images) > 0 {
			rep.Summary().WriteTo(out)
		}
		if res.Receipt != "" {
			fmt.Fprintf(out, "receipt %s (carry it back: enclave-pack --base %s)\n", res.Receipt, res.Receipt)
		}
		for _, p := range res.ClusterResources {
			fmt.Fprintf(out, "wrote %s\n", p)
		}
	}
	return err
}
