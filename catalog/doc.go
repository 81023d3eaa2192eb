// Package catalog reads, filters and rebuilds OLM operator catalog images
// (file-based catalogs, FBC), with oc-mirror v2's filtering semantics.
//
// # Reading
//
// [Load] reads the FBC of a catalog image from any oras content.Fetcher
// (a registry repository, an OCI layout, an archive): the directory named by
// the config label operators.operatorframework.io.index.configs.v1
// (default /configs), assembled from the layers in order with OCI whiteouts
// (".wh.<name>", opaque ".wh..wh..opq") and .indexignore files applied.
// Every file is a JSON stream or a YAML multi-document stream; schemas
// olm.package, olm.channel, olm.bundle and olm.deprecations are
// interpreted, any other schema is carried unchanged. Legacy sqlite indexes
// are refused.
//
// Memory is bounded by the catalog's graph, not its bytes: Load keeps names,
// versions, channel entries (replaces, skips, skipRange), bundle images and
// related images, and for every bundle or unknown-schema document only
// where it lies (layer, tar entry, offset, length). Property payloads
// (olm.bundle.object, olm.csv.metadata) are never copied. Writing a filtered
// catalog reads the kept documents again from the layers. Every size and
// count the image controls is checked against a named limit (limits.go); an
// error names the layer and the file. Measured (TestLargeCatalog, 2 shared cores): 1 GiB of
// FBC in 3,270 bundles loads and filters in 11-15 s, and the filtered
// image is rebuilt 6-12 s later, with a peak RSS under 40 MiB.
//
// A catalog index (multi-arch) carries the same FBC in every platform
// image; Load reads the linux/amd64 image (or the first), and
// [Selection.Rebuild] rebuilds every platform image with the same new
// layer.
//
// # Filtering
//
// [Filter] applies one mirror.operators entry ([imageset.Operator]) as
// oc-mirror v2 does (catalog-filter v0.0.5 with oc-mirror's mapping; the
// rules are those of OPERATORS.md section 3, each pinned by a golden test
// in filter_test.go, testdata/golden/<id>.txt):
//
//   - no packages: heads of every channel of every package (G01); with
//     full: true, no filtering at all and the original image is mirrored
//     (G02, [Selection.Unfiltered]);
//   - packages without channels: every channel of those packages (G03,
//     G17), heads only (G25 also for a defaultChannel override), all
//     entries with full: true (G04);
//   - packages with channels: only those channels (G06, G08, G23); the
//     default channel, or the defaultChannel override, must be among them
//     (G05, G06);
//   - minVersion/maxVersion on a package (G07, G10, G26, R4) or on a channel
//     (G08, G18-G21, G24, R2, R3, R6, R7, R9, R10, J2, J3): the Masterminds
//     constraint ">=min <=max" (inclusive; a bound without prerelease never
//     matches a prerelease version, G07 candidate, R7, J2); the kept
//     entries are the replaces chain from the lowest node holding every
//     in-range version down to the first node with none below, plus the
//     in-range skips of those nodes (G20, G21, R2); min == max selects that
//     exact version (G09, R11, G28);
//   - a range that empties a non-default channel drops it (G26); the
//     default channel emptied is an error (G10, J2); full with a range, and
//     package and channel ranges together, are errors (G11, G12);
//   - channel heads come from replaces and skips (skipRange is not an
//     edge, as for opm); a channel with no head, several heads or a cycle is
//     an error; kept entries keep their fields unchanged;
//   - deprecations follow what is kept (G01, G17, G18); documents of
//     unknown schema are kept with their package, or always when they have
//     none (G03, G17).
//
// Where enclave deliberately differs from oc-mirror:
//
//   - a package or channel the catalog lacks is an [ErrNotInCatalog] error
//     listing what it offers (oc-mirror ignores it: G13-G16);
//   - results oc-mirror emits although opm rejects them are errors: an exact
//     version absent from its channel (G22), a default channel emptied by
//     its range (G27); every result is checked against opm's model rules;
//   - an exact version held by two bundles (build metadata) picks the first
//     by name and warns (oc-mirror picks at random);
//   - a range without prerelease that leaves prerelease bundles out warns;
//   - deprecation entries of channels dropped by a range are dropped too;
//   - output is sorted (packages, channels, bundles by name), so the
//     rebuilt layer is reproducible.
//
// [Selection.Images] lists the bundle and related images to carry, as
// written in the catalog (normally by digest), without repeats.
//
// # Rebuilding
//
// [Selection.Rebuild] adds one layer to the original image: the configs
// directory with an opaque whiteout and the filtered FBC (one
// <package>/catalog.json per package, catalog.json for documents of no
// package; root-owned, directories 0755, files 0644, so that the
// restricted SCC can read them, OCPBUGS-61386), and a whiteout of the
// pre-built serve cache. The command drops --cache-dir, as oc-mirror's
// builder does, so opm builds its cache at start and the integrity check
// that crash-loops a rebuilt catalog with a stale cache cannot fail
// (OCPBUGS-12236, -19060; TestOpmServeRebuilt runs both commands). Tar
// headers and gzip are fixed, so the same input gives the same digest.
//
// Tests build catalog images in the test (JSON and YAML, whiteouts, OCI and
// Docker media types, indexes), push them to an in-process distribution
// registry, and check the results with a real opm (validate and serve over
// gRPC) built from the Go module proxy.
package catalog
