package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/mirror/kinds"
	"github.com/enclave-mirror/enclave/mirror/operators"
)

// PackApp returns the enclave-pack application.
func PackApp() *ucli.App {
	return &ucli.App{
		Name:      "enclave-pack",
		Usage:     "pack images into an archive, or copy them to another registry",
		UsageText: "enclave-pack -c isc.yaml [flags] file://DIR | docker://HOST[:PORT]/PREFIX",
		Flags: []ucli.Flag{
			ConfigFlag,
			&ucli.StringSliceFlag{Name: "base", Usage: "cut the archive against this receipt or previous archive directory (repeatable)"},
			&ucli.StringFlag{Name: "volume-size", Usage: "largest volume file, e.g. 700MiB or 4GiB (default: archiveSize from the config, else 4GiB-1MiB, which fits FAT32)"},
			&ucli.StringFlag{Name: "chunk-size", Usage: "uncompressed chunk size, 64KiB to 16MiB (default 4MiB)"},
			&ucli.IntFlag{Name: "compression", Value: 2, Usage: "zstd level: 1 fastest, 2 default, 3 better, 4 best"},
			&ucli.StringFlag{Name: "sign-key", Usage: "sign the archive with this Ed25519 private key (PEM, as openssl genpkey -algorithm ed25519 writes)"},
			ParallelFlag, BlobParallelFlag, DryRunFlag, NoReferrersFlag, RemoveSignaturesFlag,
			TLSFlag("src"), TLSFlag("dest"), AuthFileFlag, RegistriesConfFlag, LogLevelFlag, LogFormatFlag,
			updateURLFlag, releaseDataFlag, releaseKeyFlag, skipReleaseSignaturesFlag, graphDataURLFlag,
			helmRepositoriesFlag, helmKeyringFlag, helmKubeVersionFlag, helmAPIVersionsFlag, helmIncludeTestsFlag,
			ConnectTimeoutFlag, ResponseTimeoutFlag, StallTimeoutFlag, RetryBudgetFlag,
			clusterResourcesFlag, catalogSourceFlag,
		},
		Action:   packAction,
		Commands: []*ucli.Command{listCommand()},
	}
}

func packAction(c *ucli.Context) error {
	if c.NArg() != 1 {
		return Usagef("give one destination: file://DIR or docker://HOST/PREFIX (got %d arguments)", c.NArg())
	}
	loc, err := ParseLocation(c.Args().First())
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(c)
	if err != nil {
		return err
	}
	if cfg == nil {
		return Usagef("-c isc.yaml is required")
	}
	rep := Reporter(c.App.ErrWriter, "pack")
	log, err := Logger(c, rep)
	if err != nil {
		return err
	}
	if loc.Registry == "" {
		// Into an archive, enclave-unpack writes them.
		for _, f := range []string{clusterResourcesFlag.Name, catalogSourceFlag.Name} {
			if c.IsSet(f) {
				return Usagef("--%s applies to a docker:// destination (mirror to mirror); for an archive, give it to enclave-unpack", f)
			}
		}
	}
	original, err := originalCatalogSource(c)
	if err != nil {
		return err
	}
	opts := mirror.PackOptions{
		Config: cfg, Archive: loc.Dir, Registry: loc.Registry, Bases: c.StringSlice("base"),
		Compression: c.Int("compression"), Parallel: c.Int(ParallelFlag.Name), BlobConcurrency: c.Int(BlobParallelFlag.Name),
		NoReferrers: c.Bool(NoReferrersFlag.Name), RemoveSignatures: c.Bool(RemoveSignaturesFlag.Name), DryRun: c.Bool(DryRunFlag.Name), SignKey: c.String("sign-key"),
		Source: RegistryOptions(c, "src", log, rep), Dest: RegistryOptions(c, "dest", log, rep),
		ClusterResources: c.String(clusterResourcesFlag.Name),
		Kinds: kinds.All(kinds.Options{Platform: platformOptions(c), Helm: helmPackOptions(c),
			Operators: operators.Options{OriginalCatalogSource: original}}),
		Progress: rep, Log: log,
	}
	if s := c.String("volume-size"); s != "" {
		if opts.VolumeSize, err = progress.ParseBytes(s); err != nil {
			return Usagef("--volume-size: %v", err)
		}
	}
	if s := c.String("chunk-size"); s != "" {
		n, err := progress.ParseBytes(s)
		if err != nil {
			return Usagef("--chunk-size: %v", err)
		}
		opts.ChunkSize = int(n)
	}
	res, err := mirror.Pack(c.Context, opts)
	out := c.App.Writer
	if res != nil {
		for _, line := range res.Plan {
			fmt.Fprintln(out, line)
		}
		if !opts.DryRun {
			rep.Summary().WriteTo(out)
		}
		for _, p := range res.ClusterResources {
			fmt.Fprintf(out, "wrote %s\n", p)
		}
		if res.ArchiveDir != "" {
			fmt.Fprintf(out, "archive %s: %d volumes, id %s, digest %s\n", res.ArchiveDir, res.Volumes, res.ArchiveID, res.ArchiveDigest)
		}
	}
	return err
}
